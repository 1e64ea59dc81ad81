module {
  func.func @main(%arg0: tensor<64xi8>) -> (tensor<64xi8>, tensor<64xi8>) {
    %cst = arith.constant dense<2> : tensor<64xi8>
    %0 = arith.muli %arg0, %cst : tensor<64xi8>
    %1 = arith.muli %arg0, %cst : tensor<64xi8>
    %2 = arith.divsi %0, %cst : tensor<64xi8>
    return %2, %1 : tensor<64xi8>, tensor<64xi8>
  }
}
