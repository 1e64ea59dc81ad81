func.func @overwrite(%arg0: tensor<4xi32>, %arg1: i32) -> tensor<4xi32> {
  %c1 = arith.constant 1 : index
  %c7_i32 = arith.constant 7 : i32
  %inserted = tensor.insert %c7_i32 into %arg0[%c1] : tensor<4xi32>
  %inserted_0 = tensor.insert %arg1 into %inserted[%c1] : tensor<4xi32>
  return %inserted_0 : tensor<4xi32>
}
