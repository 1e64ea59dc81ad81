func.func @accumulate_product(%arg0: tensor<4xi32>, %arg1: tensor<4xi32>, %arg2: tensor<4xi32>) -> tensor<4xi32> {
  %cst = arith.constant dense<2> : tensor<4xi32>
  %0 = arith.muli %arg0, %arg1 : tensor<4xi32>
  %1 = arith.shli %0, %cst : tensor<4xi32>
  %2 = arith.addi %arg2, %1 : tensor<4xi32>
  return %2 : tensor<4xi32>
}
