func.func @increment_all(%arg0: tensor<4xi32>) -> tensor<4xi32> {
  %cst = arith.constant dense<1> : tensor<4xi32>
  %0 = arith.addi %arg0, %cst : tensor<4xi32>
  return %0 : tensor<4xi32>
}
