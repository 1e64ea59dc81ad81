func.func @add_ten_times(%arg0: i32) -> i32 {
  %c0 = arith.constant 0 : index
  %c10 = arith.constant 10 : index
  %c1 = arith.constant 1 : index
  %c3_i32 = arith.constant 3 : i32
  %0 = scf.for %arg1 = %c0 to %c10 step %c1 iter_args(%arg2 = %arg0) -> (i32) {
    %1 = arith.addi %arg2, %c3_i32 : i32
    scf.yield %1 : i32
  }
  return %0 : i32
}
