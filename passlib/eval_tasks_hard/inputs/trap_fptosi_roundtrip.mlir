module {
  func.func @main(%arg0: tensor<8xf32>) -> tensor<8xf32> {
    %0 = arith.fptosi %arg0 : tensor<8xf32> to tensor<8xi32>
    %1 = arith.fptosi %arg0 : tensor<8xf32> to tensor<8xi32>
    %2 = arith.negf %arg0 : tensor<8xf32>
    %3 = arith.sitofp %0 : tensor<8xi32> to tensor<8xf32>
    %4 = arith.sitofp %1 : tensor<8xi32> to tensor<8xf32>
    %5 = arith.mulf %3, %4 : tensor<8xf32>
    return %5 : tensor<8xf32>
  }
}
