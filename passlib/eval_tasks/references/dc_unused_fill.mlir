func.func @scale_only(%arg0: tensor<4xf32>) -> tensor<4xf32> {
  %cst = arith.constant dense<2.000000e+00> : tensor<4xf32>
  %0 = arith.mulf %arg0, %cst : tensor<4xf32>
  return %0 : tensor<4xf32>
}
