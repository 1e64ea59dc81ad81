module {
  func.func private @square_plus(%arg0: tensor<8xf32>) -> tensor<8xf32> {
    %0 = arith.mulf %arg0, %arg0 : tensor<8xf32>
    %1 = arith.addf %0, %arg0 : tensor<8xf32>
    return %1 : tensor<8xf32>
  }
  func.func @main(%arg0: tensor<8xf32>) -> tensor<8xf32> {
    %0 = call @square_plus(%arg0) : (tensor<8xf32>) -> tensor<8xf32>
    %1 = call @square_plus(%arg0) : (tensor<8xf32>) -> tensor<8xf32>
    %2 = arith.subf %0, %1 : tensor<8xf32>
    %3 = arith.addf %2, %0 : tensor<8xf32>
    return %3 : tensor<8xf32>
  }
}
