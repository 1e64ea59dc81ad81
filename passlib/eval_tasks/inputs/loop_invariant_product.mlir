func.func @accumulate_product(%arg0: tensor<4xi32>, %arg1: tensor<4xi32>, %arg2: tensor<4xi32>) -> tensor<4xi32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %c1 = arith.constant 1 : index
  %0 = scf.for %arg3 = %c0 to %c4 step %c1 iter_args(%arg4 = %arg2) -> (tensor<4xi32>) {
    %1 = arith.muli %arg0, %arg1 : tensor<4xi32>
    %2 = arith.addi %arg4, %1 : tensor<4xi32>
    scf.yield %2 : tensor<4xi32>
  }
  return %0 : tensor<4xi32>
}
