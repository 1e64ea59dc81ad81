func.func private @scaled_add(%arg0: i32, %arg1: i32) -> i32 {
  %c5_i32 = arith.constant 5 : i32
  %0 = arith.muli %arg1, %c5_i32 : i32
  %1 = arith.addi %arg0, %0 : i32
  return %1 : i32
}
func.func @bias_free(%arg0: i32) -> i32 {
  %c0_i32 = arith.constant 0 : i32
  %0 = call @scaled_add(%arg0, %c0_i32) : (i32, i32) -> i32
  %1 = call @scaled_add(%0, %c0_i32) : (i32, i32) -> i32
  return %1 : i32
}
