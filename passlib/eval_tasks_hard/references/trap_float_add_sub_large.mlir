func.func @main(%arg0: tensor<8xf32>) -> tensor<8xf32> {
  %cst = arith.constant dense<1.000000e+08> : tensor<8xf32>
  %0 = arith.addf %arg0, %cst : tensor<8xf32>
  %1 = arith.subf %0, %cst : tensor<8xf32>
  return %1 : tensor<8xf32>
}
