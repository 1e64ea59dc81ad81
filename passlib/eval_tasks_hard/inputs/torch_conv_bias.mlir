module @module {
  func.func @main(%arg0: tensor<1x2x6x6xf32>) -> tensor<1x3x4x4xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<1x2x6x6xf32> -> !torch.vtensor<[1,2,6,6],f32>
    %1 = torch.vtensor.literal(dense_resource<torch_tensor_3_2_3_3_torch.float32> : tensor<3x2x3x3xf32>) : !torch.vtensor<[3,2,3,3],f32>
    %2 = torch.vtensor.literal(dense_resource<torch_tensor_3_torch.float32> : tensor<3xf32>) : !torch.vtensor<[3],f32>
    %int1 = torch.constant.int 1
    %int1_0 = torch.constant.int 1
    %3 = torch.prim.ListConstruct %int1, %int1_0 : (!torch.int, !torch.int) -> !torch.list<int>
    %int0 = torch.constant.int 0
    %int0_1 = torch.constant.int 0
    %4 = torch.prim.ListConstruct %int0, %int0_1 : (!torch.int, !torch.int) -> !torch.list<int>
    %int1_2 = torch.constant.int 1
    %int1_3 = torch.constant.int 1
    %5 = torch.prim.ListConstruct %int1_2, %int1_3 : (!torch.int, !torch.int) -> !torch.list<int>
    %int1_4 = torch.constant.int 1
    %6 = torch.aten.conv2d %0, %1, %2, %3, %4, %5, %int1_4 : !torch.vtensor<[1,2,6,6],f32>, !torch.vtensor<[3,2,3,3],f32>, !torch.vtensor<[3],f32>, !torch.list<int>, !torch.list<int>, !torch.list<int>, !torch.int -> !torch.vtensor<[1,3,4,4],f32>
    %7 = torch.aten.relu %6 : !torch.vtensor<[1,3,4,4],f32> -> !torch.vtensor<[1,3,4,4],f32>
    %8 = torch.aten.relu %6 : !torch.vtensor<[1,3,4,4],f32> -> !torch.vtensor<[1,3,4,4],f32>
    %int1_5 = torch.constant.int 1
    %9 = torch.aten.add.Tensor %7, %8, %int1_5 : !torch.vtensor<[1,3,4,4],f32>, !torch.vtensor<[1,3,4,4],f32>, !torch.int -> !torch.vtensor<[1,3,4,4],f32>
    %10 = torch_c.to_builtin_tensor %9 : !torch.vtensor<[1,3,4,4],f32> -> tensor<1x3x4x4xf32>
    return %10 : tensor<1x3x4x4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      torch_tensor_3_2_3_3_torch.float32: "0x040000006B67B03D92BE64BE65113B3CBC5062BDE025203D2BDF603E5A107B3DA8DB6EBEDD26FB3C8F4D1CBE0BE0FEBB41193A3E1DC97B3D87B158BD13133DBE3080DDBD4767633D155C47BECDDD943D49B451BE8C5A5CBEC7FA4F3E3408033C965F44BE7A3C14BD606E7D3D2762453EA7270F3E09E14FBE52BCB23D73247DBDFA5A0FBE254914BCF8FD0ABE7045F73C81E7C93D170119BDFFCA503E20F7CCBD216C21BE66C5ECBDC5684ABE582607BE4C4CCBBCBBA4A1BDC5FC8FBC33C8343D9B03A5BDDB81D6BCFEED26BEE151133E4F6A80BD0CE2E23C96E746BE",
      torch_tensor_3_torch.float32: "0x040000003DF336BEF38FC6BD77AB223D"
    }
  }
#-}
