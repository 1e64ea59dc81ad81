func.func @increment_all(%arg0: tensor<4xi32>) -> tensor<4xi32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %c1_i32 = arith.constant 1 : i32
  %0 = scf.for %arg1 = %c0 to %c4 step %c1 iter_args(%arg2 = %arg0) -> (tensor<4xi32>) {
    %extracted = tensor.extract %arg2[%arg1] : tensor<4xi32>
    %1 = arith.addi %extracted, %c1_i32 : i32
    %inserted = tensor.insert %1 into %arg2[%arg1] : tensor<4xi32>
    scf.yield %inserted : tensor<4xi32>
  }
  return %0 : tensor<4xi32>
}
