func.func @once(%arg0: i32, %arg1: i32) -> i32 {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %0 = scf.for %arg2 = %c0 to %c1 step %c1 iter_args(%arg3 = %arg0) -> (i32) {
    %1 = arith.muli %arg3, %arg1 : i32
    %2 = arith.addi %1, %arg1 : i32
    scf.yield %2 : i32
  }
  return %0 : i32
}
