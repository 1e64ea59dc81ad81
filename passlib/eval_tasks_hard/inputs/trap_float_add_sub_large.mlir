module {
  func.func @main(%arg0: tensor<8xf32>) -> tensor<8xf32> {
    %cst = arith.constant dense<1.000000e+08> : tensor<8xf32>
    %cst_0 = arith.constant dense<1.000000e+08> : tensor<8xf32>
    %0 = arith.mulf %arg0, %arg0 : tensor<8xf32>
    %1 = arith.addf %arg0, %cst : tensor<8xf32>
    %2 = arith.subf %1, %cst_0 : tensor<8xf32>
    return %2 : tensor<8xf32>
  }
}
