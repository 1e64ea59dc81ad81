func.func @main(%arg0: tensor<16xi32>, %arg1: tensor<16xi32>) -> tensor<16xi32> {
  %0 = arith.cmpi sgt, %arg0, %arg1 : tensor<16xi32>
  %1 = arith.select %0, %arg0, %arg1 : tensor<16xi1>, tensor<16xi32>
  %2 = arith.muli %1, %1 : tensor<16xi32>
  return %2 : tensor<16xi32>
}
