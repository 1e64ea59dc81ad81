module {
  func.func @main(%arg0: tensor<16xi32>) -> tensor<16xi32> {
    %cst = arith.constant dense<2> : tensor<16xi32>
    %cst_0 = arith.constant dense<1> : tensor<16xi32>
    %0 = arith.divsi %arg0, %cst : tensor<16xi32>
    %1 = arith.divsi %arg0, %cst : tensor<16xi32>
    %2 = arith.shli %arg0, %cst_0 : tensor<16xi32>
    %3 = arith.addi %0, %1 : tensor<16xi32>
    return %3 : tensor<16xi32>
  }
}
