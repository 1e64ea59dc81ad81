func.func @main(%arg0: tensor<8xf32>) -> tensor<8xf32> {
  %0 = arith.fptosi %arg0 : tensor<8xf32> to tensor<8xi32>
  %1 = arith.sitofp %0 : tensor<8xi32> to tensor<8xf32>
  %2 = arith.mulf %1, %1 : tensor<8xf32>
  return %2 : tensor<8xf32>
}
