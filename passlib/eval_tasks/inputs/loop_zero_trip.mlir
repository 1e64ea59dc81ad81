func.func @never(%arg0: i32) -> i32 {
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %c9_i32 = arith.constant 9 : i32
  %0 = scf.for %arg1 = %c4 to %c4 step %c1 iter_args(%arg2 = %arg0) -> (i32) {
    %1 = arith.muli %arg2, %c9_i32 : i32
    scf.yield %1 : i32
  }
  return %0 : i32
}
