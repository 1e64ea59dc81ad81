#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d1)>
module @module {
  func.func @main(%arg0: tensor<2x8xf32>) -> tensor<2x4xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %c2 = arith.constant 2 : index
    %cst_0 = arith.constant dense_resource<torch_tensor_4_8_torch.float32> : tensor<4x8xf32>
    %cst_1 = arith.constant dense_resource<torch_tensor_4_torch.float32> : tensor<4xf32>
    %c4 = arith.constant 4 : index
    %0 = tensor.empty() : tensor<8x4xf32>
    %transposed = linalg.transpose ins(%cst_0 : tensor<4x8xf32>) outs(%0 : tensor<8x4xf32>) permutation = [1, 0] 
    %1 = tensor.empty(%c2, %c4) : tensor<?x?xf32>
    %2 = linalg.fill ins(%cst : f32) outs(%1 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %3 = linalg.matmul ins(%arg0, %transposed : tensor<2x8xf32>, tensor<8x4xf32>) outs(%2 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %cast = tensor.cast %3 : tensor<?x?xf32> to tensor<2x4xf32>
    %4 = tensor.empty() : tensor<2x4xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%cast, %cst_1 : tensor<2x4xf32>, tensor<4xf32>) outs(%4 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %18 = arith.addf %in, %in_4 : f32
      linalg.yield %18 : f32
    } -> tensor<2x4xf32>
    %6 = tensor.empty() : tensor<2x4xf32>
    %7 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%5 : tensor<2x4xf32>) outs(%6 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %18 = arith.cmpf ugt, %in, %cst : f32
      %19 = arith.select %18, %in, %cst : f32
      linalg.yield %19 : f32
    } -> tensor<2x4xf32>
    %8 = tensor.empty() : tensor<8x4xf32>
    %transposed_2 = linalg.transpose ins(%cst_0 : tensor<4x8xf32>) outs(%8 : tensor<8x4xf32>) permutation = [1, 0] 
    %9 = tensor.empty(%c2, %c4) : tensor<?x?xf32>
    %10 = linalg.fill ins(%cst : f32) outs(%9 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %11 = linalg.matmul ins(%arg0, %transposed_2 : tensor<2x8xf32>, tensor<8x4xf32>) outs(%10 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %cast_3 = tensor.cast %11 : tensor<?x?xf32> to tensor<2x4xf32>
    %12 = tensor.empty() : tensor<2x4xf32>
    %13 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%cast_3, %cst_1 : tensor<2x4xf32>, tensor<4xf32>) outs(%12 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %18 = arith.addf %in, %in_4 : f32
      linalg.yield %18 : f32
    } -> tensor<2x4xf32>
    %14 = tensor.empty() : tensor<2x4xf32>
    %15 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%13 : tensor<2x4xf32>) outs(%14 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %18 = arith.cmpf ugt, %in, %cst : f32
      %19 = arith.select %18, %in, %cst : f32
      linalg.yield %19 : f32
    } -> tensor<2x4xf32>
    %16 = tensor.empty() : tensor<2x4xf32>
    %17 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%7, %15 : tensor<2x4xf32>, tensor<2x4xf32>) outs(%16 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %in_4: f32, %out: f32):
      %18 = arith.addf %in, %in_4 : f32
      linalg.yield %18 : f32
    } -> tensor<2x4xf32>
    return %17 : tensor<2x4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      torch_tensor_4_8_torch.float32: "0x0400000040F87ABD2BA306BD7977993EA8C39B3E72EBF43DCC2BA43EA25448BED7BD063E4B07A73E0CD193BE2CE752BE3EBE66BD29A7A53E8CE627BDD2056E3E105324BE227D1C3DA70FA4BE4ED3FABB4E4BBEBD9898843E7BADE0BD042D6BBDF3A591BE656CAB3E2FB4733E1C8C2EBDAAD3913E3A47923DF25196BE4D58E73DB08F023E",
      torch_tensor_4_torch.float32: "0x04000000D18276BE211AA5BE35CA9DBE0F29933E"
    }
  }
#-}
