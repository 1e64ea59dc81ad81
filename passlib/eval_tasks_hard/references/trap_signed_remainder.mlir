func.func @main(%arg0: tensor<16xi32>) -> tensor<16xi32> {
  %cst = arith.constant dense<2> : tensor<16xi32>
  %0 = arith.remsi %arg0, %cst : tensor<16xi32>
  %1 = arith.muli %0, %0 : tensor<16xi32>
  %2 = arith.addi %1, %0 : tensor<16xi32>
  return %2 : tensor<16xi32>
}
