#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d1)>
module @module {
  func.func @main(%arg0: tensor<2x8xf32>) -> tensor<2x4xf32> {
    %cst = arith.constant 0.000000e+00 : f32
    %cst_0 = arith.constant dense_resource<torch_tensor_4_torch.float32> : tensor<4xf32>
    %cst_1 = arith.constant dense_resource<torch_tensor_8_4_torch.float32> : tensor<8x4xf32>
    %c2 = arith.constant 2 : index
    %c4 = arith.constant 4 : index
    %0 = tensor.empty(%c2, %c4) : tensor<?x?xf32>
    %1 = linalg.fill ins(%cst : f32) outs(%0 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %2 = linalg.matmul ins(%arg0, %cst_1 : tensor<2x8xf32>, tensor<8x4xf32>) outs(%1 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %cast = tensor.cast %2 : tensor<?x?xf32> to tensor<2x4xf32>
    %3 = tensor.empty() : tensor<2x4xf32>
    %4 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%cast, %cst_0 : tensor<2x4xf32>, tensor<4xf32>) outs(%3 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %12 = arith.addf %in, %in_3 : f32
      linalg.yield %12 : f32
    } -> tensor<2x4xf32>
    %5 = tensor.empty(%c2, %c4) : tensor<?x?xf32>
    %6 = linalg.fill ins(%cst : f32) outs(%5 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %7 = linalg.matmul ins(%arg0, %cst_1 : tensor<2x8xf32>, tensor<8x4xf32>) outs(%6 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %cast_2 = tensor.cast %7 : tensor<?x?xf32> to tensor<2x4xf32>
    %8 = tensor.empty() : tensor<2x4xf32>
    %9 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%cast_2, %cst_0 : tensor<2x4xf32>, tensor<4xf32>) outs(%8 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %12 = arith.addf %in, %in_3 : f32
      linalg.yield %12 : f32
    } -> tensor<2x4xf32>
    %10 = tensor.empty() : tensor<2x4xf32>
    %11 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%4, %9 : tensor<2x4xf32>, tensor<2x4xf32>) outs(%10 : tensor<2x4xf32>) {
    ^bb0(%in: f32, %in_3: f32, %out: f32):
      %12 = arith.mulf %in, %in_3 : f32
      linalg.yield %12 : f32
    } -> tensor<2x4xf32>
    return %11 : tensor<2x4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      torch_tensor_4_torch.float32: "0x04000000E4F3AEBE78BA5D3FF735333F50E52A3F",
      torch_tensor_8_4_torch.float32: "0x04000000CF1068BFF7646D3F09C0A53F2E876ABFDD1B9EBF47B8F3BE336E9DBFEFA3DA3EDE3208BE38BDBB3F020643BF9304C63E938A36BE0ADE0DBF8EC2803F605973BFA8F6BA3FE646C5BDBFE8F73E2086903F762CDA3DE849263F8813093FEFD711BFFB51A3BE08246EBAD05BFE3E3C1469BFABF6CE3E88B4B23E7E53D8BFB6078E3E"
    }
  }
#-}
