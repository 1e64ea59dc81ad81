func.func @two_counters(%arg0: i32, %arg1: i32) -> i32 {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c1 = arith.constant 1 : index
  %c5_i32 = arith.constant 5 : i32
  %c7_i32 = arith.constant 7 : i32
  %0 = scf.for %arg2 = %c0 to %c8 step %c1 iter_args(%arg3 = %arg0) -> (i32) {
    %3 = arith.addi %arg3, %c5_i32 : i32
    scf.yield %3 : i32
  }
  %1 = scf.for %arg2 = %c0 to %c8 step %c1 iter_args(%arg3 = %arg1) -> (i32) {
    %3 = arith.addi %arg3, %c7_i32 : i32
    scf.yield %3 : i32
  }
  %2 = arith.addi %0, %1 : i32
  return %2 : i32
}
