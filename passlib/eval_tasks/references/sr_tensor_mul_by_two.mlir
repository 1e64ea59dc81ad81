func.func @double_all(%arg0: tensor<8xi32>) -> tensor<8xi32> {
  %0 = arith.addi %arg0, %arg0 : tensor<8xi32>
  return %0 : tensor<8xi32>
}
