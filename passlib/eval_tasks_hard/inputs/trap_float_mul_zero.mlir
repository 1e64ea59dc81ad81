module {
  func.func @main(%arg0: tensor<8xf32>) -> tensor<8xf32> {
    %cst = arith.constant dense<0.000000e+00> : tensor<8xf32>
    %0 = arith.subf %arg0, %arg0 : tensor<8xf32>
    %1 = arith.subf %arg0, %arg0 : tensor<8xf32>
    %2 = arith.divf %arg0, %1 : tensor<8xf32>
    %3 = arith.mulf %2, %cst : tensor<8xf32>
    %4 = arith.addf %3, %0 : tensor<8xf32>
    return %4 : tensor<8xf32>
  }
}
