func.func @overwrite(%arg0: tensor<4xi32>, %arg1: i32) -> tensor<4xi32> {
  %c1 = arith.constant 1 : index
  %inserted = tensor.insert %arg1 into %arg0[%c1] : tensor<4xi32>
  return %inserted : tensor<4xi32>
}
