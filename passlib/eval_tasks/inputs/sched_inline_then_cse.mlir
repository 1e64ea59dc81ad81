func.func private @mix(%arg0: i32) -> i32 {
  %c7_i32 = arith.constant 7 : i32
  %0 = arith.muli %arg0, %c7_i32 : i32
  %1 = arith.xori %0, %arg0 : i32
  return %1 : i32
}
func.func @mix_twice(%arg0: i32) -> i32 {
  %0 = call @mix(%arg0) : (i32) -> i32
  %1 = call @mix(%arg0) : (i32) -> i32
  %2 = arith.addi %0, %1 : i32
  return %2 : i32
}
