func.func @offset(%arg0: tensor<4xi32>) -> tensor<4xi32> {
  %cst = arith.constant dense<[1, 2, 3, 4]> : tensor<4xi32>
  %cst_0 = arith.constant dense<10> : tensor<4xi32>
  %0 = arith.addi %cst, %cst_0 : tensor<4xi32>
  %1 = arith.addi %arg0, %0 : tensor<4xi32>
  return %1 : tensor<4xi32>
}
