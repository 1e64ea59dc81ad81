#map = affine_map<(d0, d1) -> (d0, d1)>
module @module {
  func.func @main(%arg0: tensor<2x6xf32>) -> tensor<2x6xf32> {
    %cst = arith.constant 4.000000e+00 : f32
    %cst_0 = arith.constant 3.000000e+00 : f32
    %cst_1 = arith.constant 2.000000e+00 : f32
    %cst_2 = arith.constant 1.000000e+00 : f32
    %0 = tensor.empty() : tensor<2x6xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%arg0 : tensor<2x6xf32>) outs(%0 : tensor<2x6xf32>) {
    ^bb0(%in: f32, %out: f32):
      %10 = arith.addf %in, %cst_2 : f32
      linalg.yield %10 : f32
    } -> tensor<2x6xf32>
    %2 = tensor.empty() : tensor<2x6xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%1 : tensor<2x6xf32>) outs(%2 : tensor<2x6xf32>) {
    ^bb0(%in: f32, %out: f32):
      %10 = arith.mulf %in, %cst_1 : f32
      linalg.yield %10 : f32
    } -> tensor<2x6xf32>
    %4 = tensor.empty() : tensor<2x6xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%3 : tensor<2x6xf32>) outs(%4 : tensor<2x6xf32>) {
    ^bb0(%in: f32, %out: f32):
      %10 = arith.subf %in, %cst_0 : f32
      linalg.yield %10 : f32
    } -> tensor<2x6xf32>
    %6 = tensor.empty() : tensor<2x6xf32>
    %7 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%5 : tensor<2x6xf32>) outs(%6 : tensor<2x6xf32>) {
    ^bb0(%in: f32, %out: f32):
      %10 = arith.divf %in, %cst : f32
      linalg.yield %10 : f32
    } -> tensor<2x6xf32>
    %8 = tensor.empty() : tensor<2x6xf32>
    %9 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%7 : tensor<2x6xf32>) outs(%8 : tensor<2x6xf32>) {
    ^bb0(%in: f32, %out: f32):
      %10 = arith.negf %in : f32
      %11 = math.exp %10 : f32
      %12 = arith.addf %11, %cst_2 : f32
      %13 = arith.divf %cst_2, %12 : f32
      linalg.yield %13 : f32
    } -> tensor<2x6xf32>
    return %9 : tensor<2x6xf32>
  }
}
