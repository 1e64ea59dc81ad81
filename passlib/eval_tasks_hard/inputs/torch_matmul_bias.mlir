module @module {
  func.func @main(%arg0: tensor<2x8xf32>) -> tensor<2x4xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<2x8xf32> -> !torch.vtensor<[2,8],f32>
    %1 = torch.vtensor.literal(dense_resource<torch_tensor_8_4_torch.float32> : tensor<8x4xf32>) : !torch.vtensor<[8,4],f32>
    %2 = torch.aten.matmul %0, %1 : !torch.vtensor<[2,8],f32>, !torch.vtensor<[8,4],f32> -> !torch.vtensor<[2,4],f32>
    %3 = torch.vtensor.literal(dense_resource<torch_tensor_4_torch.float32> : tensor<4xf32>) : !torch.vtensor<[4],f32>
    %int1 = torch.constant.int 1
    %4 = torch.aten.add.Tensor %2, %3, %int1 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[4],f32>, !torch.int -> !torch.vtensor<[2,4],f32>
    %5 = torch.aten.matmul %0, %1 : !torch.vtensor<[2,8],f32>, !torch.vtensor<[8,4],f32> -> !torch.vtensor<[2,4],f32>
    %int1_0 = torch.constant.int 1
    %6 = torch.aten.add.Tensor %5, %3, %int1_0 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[4],f32>, !torch.int -> !torch.vtensor<[2,4],f32>
    %7 = torch.aten.mul.Tensor %4, %6 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[2,4],f32> -> !torch.vtensor<[2,4],f32>
    %8 = torch_c.to_builtin_tensor %7 : !torch.vtensor<[2,4],f32> -> tensor<2x4xf32>
    return %8 : tensor<2x4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      torch_tensor_8_4_torch.float32: "0x04000000CF1068BFF7646D3F09C0A53F2E876ABFDD1B9EBF47B8F3BE336E9DBFEFA3DA3EDE3208BE38BDBB3F020643BF9304C63E938A36BE0ADE0DBF8EC2803F605973BFA8F6BA3FE646C5BDBFE8F73E2086903F762CDA3DE849263F8813093FEFD711BFFB51A3BE08246EBAD05BFE3E3C1469BFABF6CE3E88B4B23E7E53D8BFB6078E3E",
      torch_tensor_4_torch.float32: "0x04000000E4F3AEBE78BA5D3FF735333F50E52A3F"
    }
  }
#-}
