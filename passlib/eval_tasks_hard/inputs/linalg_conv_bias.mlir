#map = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
module @module {
  func.func @main(%arg0: tensor<1x2x6x6xf32>) -> tensor<1x3x4x4xf32> {
    %cst = arith.constant dense_resource<torch_tensor_3_torch.float32> : tensor<3xf32>
    %cst_0 = arith.constant 0.000000e+00 : f32
    %cst_1 = arith.constant dense_resource<torch_tensor_3_2_3_3_torch.float32> : tensor<3x2x3x3xf32>
    %0 = tensor.empty() : tensor<1x3x4x4xf32>
    %broadcasted = linalg.broadcast ins(%cst : tensor<3xf32>) outs(%0 : tensor<1x3x4x4xf32>) dimensions = [0, 2, 3] 
    %1 = linalg.conv_2d_nchw_fchw {dilations = dense<1> : vector<2xi64>, strides = dense<1> : vector<2xi64>} ins(%arg0, %cst_1 : tensor<1x2x6x6xf32>, tensor<3x2x3x3xf32>) outs(%broadcasted : tensor<1x3x4x4xf32>) -> tensor<1x3x4x4xf32>
    %2 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%1 : tensor<1x3x4x4xf32>) outs(%0 : tensor<1x3x4x4xf32>) {
    ^bb0(%in: f32, %out: f32):
      %4 = arith.cmpf ugt, %in, %cst_0 : f32
      %5 = arith.select %4, %in, %cst_0 : f32
      linalg.yield %5 : f32
    } -> tensor<1x3x4x4xf32>
    %3 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%2, %2 : tensor<1x3x4x4xf32>, tensor<1x3x4x4xf32>) outs(%0 : tensor<1x3x4x4xf32>) {
    ^bb0(%in: f32, %in_2: f32, %out: f32):
      %4 = arith.addf %in, %in_2 : f32
      linalg.yield %4 : f32
    } -> tensor<1x3x4x4xf32>
    return %3 : tensor<1x3x4x4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      torch_tensor_3_torch.float32: "0x040000003DF336BEF38FC6BD77AB223D",
      torch_tensor_3_2_3_3_torch.float32: "0x040000006B67B03D92BE64BE65113B3CBC5062BDE025203D2BDF603E5A107B3DA8DB6EBEDD26FB3C8F4D1CBE0BE0FEBB41193A3E1DC97B3D87B158BD13133DBE3080DDBD4767633D155C47BECDDD943D49B451BE8C5A5CBEC7FA4F3E3408033C965F44BE7A3C14BD606E7D3D2762453EA7270F3E09E14FBE52BCB23D73247DBDFA5A0FBE254914BCF8FD0ABE7045F73C81E7C93D170119BDFFCA503E20F7CCBD216C21BE66C5ECBDC5684ABE582607BE4C4CCBBCBBA4A1BDC5FC8FBC33C8343D9B03A5BDDB81D6BCFEED26BEE151133E4F6A80BD0CE2E23C96E746BE"
    }
  }
#-}
