module {
  func.func @main(%arg0: tensor<4xi32>, %arg1: tensor<4xi32>) -> (tensor<4xi32>, tensor<4xi32>) {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c8 = arith.constant 8 : index
    %0 = scf.for %arg2 = %c0 to %c8 step %c1 iter_args(%arg3 = %arg1) -> (tensor<4xi32>) {
      %3 = arith.muli %arg0, %arg0 : tensor<4xi32>
      %4 = arith.addi %3, %arg0 : tensor<4xi32>
      %5 = arith.addi %arg3, %4 : tensor<4xi32>
      scf.yield %5 : tensor<4xi32>
    }
    %1 = arith.muli %arg0, %arg0 : tensor<4xi32>
    %2 = arith.addi %1, %arg0 : tensor<4xi32>
    return %0, %2 : tensor<4xi32>, tensor<4xi32>
  }
}
