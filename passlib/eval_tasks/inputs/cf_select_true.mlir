func.func @pick_first(%arg0: i32, %arg1: i32) -> i32 {
  %true = arith.constant true
  %c1_i32 = arith.constant 1 : i32
  %0 = arith.select %true, %arg0, %arg1 : i32
  %1 = arith.addi %0, %c1_i32 : i32
  return %1 : i32
}
