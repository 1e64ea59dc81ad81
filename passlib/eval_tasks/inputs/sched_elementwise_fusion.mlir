#map = affine_map<(d0) -> (d0)>
func.func @scale_shift(%arg0: tensor<16xf32>) -> tensor<16xf32> {
  %cst = arith.constant 2.000000e+00 : f32
  %cst_0 = arith.constant 1.000000e+00 : f32
  %0 = tensor.empty() : tensor<16xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%arg0 : tensor<16xf32>) outs(%0 : tensor<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %3 = arith.mulf %in, %cst : f32
    linalg.yield %3 : f32
  } -> tensor<16xf32>
  %2 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel"]} ins(%1 : tensor<16xf32>) outs(%0 : tensor<16xf32>) {
  ^bb0(%in: f32, %out: f32):
    %3 = arith.addf %in, %cst_0 : f32
    linalg.yield %3 : f32
  } -> tensor<16xf32>
  return %2 : tensor<16xf32>
}
