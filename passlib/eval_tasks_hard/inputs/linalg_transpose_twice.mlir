#map = affine_map<(d0, d1) -> (d0, d1)>
module @module {
  func.func @main(%arg0: tensor<3x5xf32>) -> tensor<3x5xf32> {
    %cst = arith.constant 1.000000e+00 : f32
    %0 = tensor.empty() : tensor<5x3xf32>
    %transposed = linalg.transpose ins(%arg0 : tensor<3x5xf32>) outs(%0 : tensor<5x3xf32>) permutation = [1, 0] 
    %1 = tensor.empty() : tensor<3x5xf32>
    %transposed_0 = linalg.transpose ins(%transposed : tensor<5x3xf32>) outs(%1 : tensor<3x5xf32>) permutation = [1, 0] 
    %2 = tensor.empty() : tensor<3x5xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%transposed_0 : tensor<3x5xf32>) outs(%2 : tensor<3x5xf32>) {
    ^bb0(%in: f32, %out: f32):
      %4 = arith.addf %in, %cst : f32
      linalg.yield %4 : f32
    } -> tensor<3x5xf32>
    return %3 : tensor<3x5xf32>
  }
}
