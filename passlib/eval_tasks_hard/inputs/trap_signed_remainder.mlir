module {
  func.func @main(%arg0: tensor<16xi32>) -> tensor<16xi32> {
    %cst = arith.constant dense<2> : tensor<16xi32>
    %0 = arith.remsi %arg0, %cst : tensor<16xi32>
    %1 = arith.remsi %arg0, %cst : tensor<16xi32>
    %2 = arith.muli %0, %1 : tensor<16xi32>
    %3 = arith.addi %2, %0 : tensor<16xi32>
    return %3 : tensor<16xi32>
  }
}
