func.func @add_flag(%arg0: i32) -> i32 {
  %c3_i32 = arith.constant 3 : i32
  %c5_i32 = arith.constant 5 : i32
  %0 = arith.cmpi slt, %c3_i32, %c5_i32 : i32
  %1 = arith.extui %0 : i1 to i32
  %2 = arith.addi %arg0, %1 : i32
  return %2 : i32
}
