#map = affine_map<(d0, d1) -> (d0, d1)>
#map1 = affine_map<(d0, d1) -> (d1)>
module @module {
  func.func @main(%arg0: tensor<2x6xf32>) -> tensor<2x3xf32> {
    %c3 = arith.constant 3 : index
    %cst = arith.constant 0.000000e+00 : f32
    %c2 = arith.constant 2 : index
    %cst_0 = arith.constant dense_resource<torch_tensor_3_torch.float32> : tensor<3xf32>
    %cst_1 = arith.constant dense_resource<torch_tensor_3_8_torch.float32> : tensor<3x8xf32>
    %cst_2 = arith.constant dense_resource<torch_tensor_8_6_torch.float32> : tensor<8x6xf32>
    %cst_3 = arith.constant dense_resource<torch_tensor_8_torch.float32> : tensor<8xf32>
    %c8 = arith.constant 8 : index
    %0 = tensor.empty() : tensor<6x8xf32>
    %transposed = linalg.transpose ins(%cst_2 : tensor<8x6xf32>) outs(%0 : tensor<6x8xf32>) permutation = [1, 0] 
    %1 = tensor.empty(%c2, %c8) : tensor<?x?xf32>
    %2 = linalg.fill ins(%cst : f32) outs(%1 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %3 = linalg.matmul ins(%arg0, %transposed : tensor<2x6xf32>, tensor<6x8xf32>) outs(%2 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %cast = tensor.cast %3 : tensor<?x?xf32> to tensor<2x8xf32>
    %4 = tensor.empty() : tensor<2x8xf32>
    %5 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%cast, %cst_3 : tensor<2x8xf32>, tensor<8xf32>) outs(%4 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %24 = arith.addf %in, %in_8 : f32
      linalg.yield %24 : f32
    } -> tensor<2x8xf32>
    %6 = tensor.empty() : tensor<2x8xf32>
    %7 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%5 : tensor<2x8xf32>) outs(%6 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = arith.cmpf ugt, %in, %cst : f32
      %25 = arith.select %24, %in, %cst : f32
      linalg.yield %25 : f32
    } -> tensor<2x8xf32>
    %8 = tensor.empty() : tensor<8x3xf32>
    %transposed_4 = linalg.transpose ins(%cst_1 : tensor<3x8xf32>) outs(%8 : tensor<8x3xf32>) permutation = [1, 0] 
    %9 = tensor.empty(%c2, %c3) : tensor<?x?xf32>
    %10 = linalg.fill ins(%cst : f32) outs(%9 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %11 = linalg.matmul ins(%7, %transposed_4 : tensor<2x8xf32>, tensor<8x3xf32>) outs(%10 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %cast_5 = tensor.cast %11 : tensor<?x?xf32> to tensor<2x3xf32>
    %12 = tensor.empty() : tensor<2x3xf32>
    %13 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%cast_5, %cst_0 : tensor<2x3xf32>, tensor<3xf32>) outs(%12 : tensor<2x3xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %24 = arith.addf %in, %in_8 : f32
      linalg.yield %24 : f32
    } -> tensor<2x3xf32>
    %14 = tensor.empty() : tensor<2x8xf32>
    %15 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]} ins(%5 : tensor<2x8xf32>) outs(%14 : tensor<2x8xf32>) {
    ^bb0(%in: f32, %out: f32):
      %24 = arith.cmpf ugt, %in, %cst : f32
      %25 = arith.select %24, %in, %cst : f32
      linalg.yield %25 : f32
    } -> tensor<2x8xf32>
    %16 = tensor.empty() : tensor<8x3xf32>
    %transposed_6 = linalg.transpose ins(%cst_1 : tensor<3x8xf32>) outs(%16 : tensor<8x3xf32>) permutation = [1, 0] 
    %17 = tensor.empty(%c2, %c3) : tensor<?x?xf32>
    %18 = linalg.fill ins(%cst : f32) outs(%17 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %19 = linalg.matmul ins(%15, %transposed_6 : tensor<2x8xf32>, tensor<8x3xf32>) outs(%18 : tensor<?x?xf32>) -> tensor<?x?xf32>
    %cast_7 = tensor.cast %19 : tensor<?x?xf32> to tensor<2x3xf32>
    %20 = tensor.empty() : tensor<2x3xf32>
    %21 = linalg.generic {indexing_maps = [#map, #map1, #map], iterator_types = ["parallel", "parallel"]} ins(%cast_7, %cst_0 : tensor<2x3xf32>, tensor<3xf32>) outs(%20 : tensor<2x3xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %24 = arith.addf %in, %in_8 : f32
      linalg.yield %24 : f32
    } -> tensor<2x3xf32>
    %22 = tensor.empty() : tensor<2x3xf32>
    %23 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]} ins(%13, %21 : tensor<2x3xf32>, tensor<2x3xf32>) outs(%22 : tensor<2x3xf32>) {
    ^bb0(%in: f32, %in_8: f32, %out: f32):
      %24 = arith.addf %in, %in_8 : f32
      linalg.yield %24 : f32
    } -> tensor<2x3xf32>
    return %23 : tensor<2x3xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      torch_tensor_3_torch.float32: "0x040000007C5A79BE64562ABE7689A1BC",
      torch_tensor_3_8_torch.float32: "0x04000000A95B0DBE8B03103EBE3801BE196C983E20E3923EC0A98E3EB2EC523E76140F3E55ACAC3ED8E4A7BD4A7088BE2E7CB2BB2B1D87BD2C1464BE71EFDBBD6A1A9EBD900B883EAFB4403E5034663D2E0ED8BDF636B0BEF5155CBD21CDB9BCCFDDD73A",
      torch_tensor_8_6_torch.float32: "0x04000000693FBEBE1024B63ECD2F453EA40DB83E6547CD3E9D11BA3E748818BEBF1BB23DCD73BC3E35BF8F3E71680FBECC0C69BD6663E7BD2BB612BE16E4353E9420A43E4A35E9BD7EF951BEBA5E963D78979FBEBAA61DBE3A32843D1D2B103EC1F922BE415813BE679F89BE7F55783D0C060D3EE8F2B2BE46AF4FBED196CB3DDB187EBD3D8E763E37DDC1BDB9C1983D826373BE238AE53D2BCC353E8485C7BE5C0C373E41B6C53ED5DA05BDB65F8BBE40F5BB3E30AF25BE12EE57BE5454ED3CECF8F93D",
      torch_tensor_8_torch.float32: "0x04000000985A9B3E206CF03D76039FBD9EF187BEF91C923E9D47703EADE51CBE26DC173E"
    }
  }
#-}
