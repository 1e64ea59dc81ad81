module {
  func.func @main(%arg0: tensor<8xf32>, %arg1: tensor<8xf32>) -> tensor<8xf32> {
    %cst = arith.constant dense<1.000000e+07> : tensor<8xf32>
    %0 = arith.mulf %arg1, %cst : tensor<8xf32>
    %1 = arith.mulf %arg1, %cst : tensor<8xf32>
    %2 = arith.addf %arg0, %0 : tensor<8xf32>
    %3 = arith.subf %2, %1 : tensor<8xf32>
    return %3 : tensor<8xf32>
  }
}
