func.func @loops(%arg0: i32) -> i32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3_i32 = arith.constant 3 : i32
  %0 = scf.for %arg1 = %c0 to %c0 step %c1 iter_args(%arg2 = %arg0) -> (i32) {
    %2 = arith.muli %arg2, %c3_i32 : i32
    scf.yield %2 : i32
  }
  %1 = scf.for %arg1 = %c0 to %c1 step %c1 iter_args(%arg2 = %0) -> (i32) {
    %2 = arith.addi %arg2, %c3_i32 : i32
    scf.yield %2 : i32
  }
  return %1 : i32
}
