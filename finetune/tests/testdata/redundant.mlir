func.func private @scale(%arg0: i32, %arg1: i32) -> i32 {
  %0 = arith.muli %arg0, %arg1 : i32
  return %0 : i32
}
func.func @main(%arg0: i32, %arg1: i32) -> i32 {
  %c1 = arith.constant 1 : i32
  %c0 = arith.constant 0 : i32
  %0 = arith.muli %arg0, %c1 : i32
  %1 = arith.addi %0, %c0 : i32
  %2 = arith.addi %1, %arg1 : i32
  %3 = arith.addi %1, %arg1 : i32
  %4 = call @scale(%2, %3) : (i32, i32) -> i32
  return %4 : i32
}
