func.func @add_constants(%arg0: i32) -> i32 {
  %c7_i32 = arith.constant 7 : i32
  %0 = arith.addi %arg0, %c7_i32 : i32
  return %0 : i32
}
