func.func @two_counters(%arg0: i32, %arg1: i32) -> i32 {
  %c96_i32 = arith.constant 96 : i32
  %0 = arith.addi %arg0, %arg1 : i32
  %1 = arith.addi %0, %c96_i32 : i32
  return %1 : i32
}
