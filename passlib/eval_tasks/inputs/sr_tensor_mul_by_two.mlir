func.func @double_all(%arg0: tensor<8xi32>) -> tensor<8xi32> {
  %cst = arith.constant dense<2> : tensor<8xi32>
  %0 = arith.muli %arg0, %cst : tensor<8xi32>
  return %0 : tensor<8xi32>
}
