func.func @ignore_loop(%arg0: i32) -> i32 {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c1 = arith.constant 1 : index
  %0 = scf.for %arg1 = %c0 to %c8 step %c1 iter_args(%arg2 = %arg0) -> (i32) {
    %2 = arith.addi %arg2, %arg0 : i32
    scf.yield %2 : i32
  }
  %c2_i32 = arith.constant 2 : i32
  %1 = arith.muli %arg0, %c2_i32 : i32
  return %1 : i32
}
