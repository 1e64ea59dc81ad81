func.func @main(%arg0: tensor<16xi32>) -> tensor<16xi32> {
  %cst = arith.constant dense<2> : tensor<16xi32>
  %0 = arith.divsi %arg0, %cst : tensor<16xi32>
  %1 = arith.addi %0, %0 : tensor<16xi32>
  return %1 : tensor<16xi32>
}
