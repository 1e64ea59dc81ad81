module {
  func.func @main(%arg0: tensor<16xi32>) -> tensor<16xi32> {
    %0 = arith.trunci %arg0 : tensor<16xi32> to tensor<16xi8>
    %1 = arith.trunci %arg0 : tensor<16xi32> to tensor<16xi8>
    %2 = arith.extsi %0 : tensor<16xi8> to tensor<16xi32>
    %3 = arith.extsi %1 : tensor<16xi8> to tensor<16xi32>
    %4 = arith.addi %2, %3 : tensor<16xi32>
    return %4 : tensor<16xi32>
  }
}
