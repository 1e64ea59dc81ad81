func.func private @add_one(%arg0: i32) -> i32 {
  %c1_i32 = arith.constant 1 : i32
  %0 = arith.addi %arg0, %c1_i32 : i32
  return %0 : i32
}
func.func private @halve(%arg0: i32) -> i32 {
  %c1_i32 = arith.constant 1 : i32
  %0 = arith.shrui %arg0, %c1_i32 : i32
  return %0 : i32
}
func.func @entry(%arg0: i32) -> i32 {
  %0 = call @add_one(%arg0) : (i32) -> i32
  %1 = call @halve(%0) : (i32) -> i32
  return %1 : i32
}
