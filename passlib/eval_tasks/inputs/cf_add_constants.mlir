func.func @add_constants(%arg0: i32) -> i32 {
  %c3_i32 = arith.constant 3 : i32
  %c4_i32 = arith.constant 4 : i32
  %0 = arith.addi %c3_i32, %c4_i32 : i32
  %1 = arith.addi %arg0, %0 : i32
  return %1 : i32
}
