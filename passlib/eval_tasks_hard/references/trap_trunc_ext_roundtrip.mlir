func.func @main(%arg0: tensor<16xi32>) -> tensor<16xi32> {
  %0 = arith.trunci %arg0 : tensor<16xi32> to tensor<16xi8>
  %1 = arith.extsi %0 : tensor<16xi8> to tensor<16xi32>
  %2 = arith.addi %1, %1 : tensor<16xi32>
  return %2 : tensor<16xi32>
}
