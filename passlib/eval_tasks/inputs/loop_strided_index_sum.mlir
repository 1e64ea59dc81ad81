func.func @add_even_indices(%arg0: i32) -> i32 {
  %c0 = arith.constant 0 : index
  %c10 = arith.constant 10 : index
  %c2 = arith.constant 2 : index
  %0 = scf.for %arg1 = %c0 to %c10 step %c2 iter_args(%arg2 = %arg0) -> (i32) {
    %1 = arith.index_cast %arg1 : index to i32
    %2 = arith.addi %arg2, %1 : i32
    scf.yield %2 : i32
  }
  return %0 : i32
}
