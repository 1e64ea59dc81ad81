func.func @zeros_like(%arg0: tensor<8xf32>) -> tensor<8xf32> {
  %cst = arith.constant dense<0.000000e+00> : tensor<8xf32>
  return %cst : tensor<8xf32>
}
