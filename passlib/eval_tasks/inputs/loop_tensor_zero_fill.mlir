func.func @zeros_like(%arg0: tensor<8xf32>) -> tensor<8xf32> {
  %c0 = arith.constant 0 : index
  %c8 = arith.constant 8 : index
  %c1 = arith.constant 1 : index
  %cst = arith.constant 0.000000e+00 : f32
  %0 = scf.for %arg1 = %c0 to %c8 step %c1 iter_args(%arg2 = %arg0) -> (tensor<8xf32>) {
    %inserted = tensor.insert %cst into %arg2[%arg1] : tensor<8xf32>
    scf.yield %inserted : tensor<8xf32>
  }
  return %0 : tensor<8xf32>
}
