#map = affine_map<(d0, d1) -> (d0, d1)>
module @module {
  func.func @main(%arg0: tensor<4x5xf32>) -> tensor<4x2xf32> {
    %c0 = arith.constant 0 : index
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %c2 = arith.constant 2 : index
    %extracted_slice = tensor.extract_slice %arg0[%c0, %c1] [%c4, %c2] [%c1, %c1] : tensor<4x5xf32> to tensor<?x?xf32>
    %cast = tensor.cast %extracted_slice : tensor<?x?xf32> to tensor<4x2xf32>
    %extracted_slice_0 = tensor.extract_slice %arg0[%c0, %c1] [%c4, %c2] [%c1, %c1] : tensor<4x5xf32> to tensor<?x?xf32>
    %cast_1 = tensor.cast %extracted_slice_0 : tensor<?x?xf32> to tensor<4x2xf32>
    %extracted_slice_2 = tensor.extract_slice %arg0[%c0, %c1] [%c4, %c2] [%c1, %c1] : tensor<4x5xf32> to tensor<?x?xf32>
    %cast_3 = tensor.cast %extracted_slice_2 : tensor<?x?xf32> to tensor<4x2xf32>
    %0 = tensor.empty() : tensor<4x2xf32>
    %1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%cast_1, %cast_3 : tensor<4x2xf32>, tensor<4x2xf32>) outs(%0 : tensor<4x2xf32>) {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %4 = arith.mulf %in, %in_4 : f32
      linalg.yield %4 : f32
    } -> tensor<4x2xf32>
    %2 = tensor.empty() : tensor<4x2xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%cast, %1 : tensor<4x2xf32>, tensor<4x2xf32>) outs(%2 : tensor<4x2xf32>) {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %4 = arith.addf %in, %in_4 : f32
      linalg.yield %4 : f32
    } -> tensor<4x2xf32>
    return %3 : tensor<4x2xf32>
  }
}
