module @module {
  func.func @main(%arg0: tensor<2x4xf32>) -> tensor<2x4xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<2x4xf32> -> !torch.vtensor<[2,4],f32>
    %1 = torch.vtensor.literal(dense_resource<torch_tensor_4_torch.float32> : tensor<4xf32>) : !torch.vtensor<[4],f32>
    %int1 = torch.constant.int 1
    %2 = torch.aten.sub.Tensor %0, %1, %int1 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[4],f32>, !torch.int -> !torch.vtensor<[2,4],f32>
    %3 = torch.vtensor.literal(dense_resource<torch_tensor_4_torch.float32_1> : tensor<4xf32>) : !torch.vtensor<[4],f32>
    %float1.000000e-05 = torch.constant.float 1.000000e-05
    %int1_0 = torch.constant.int 1
    %4 = torch.aten.add.Scalar %3, %float1.000000e-05, %int1_0 : !torch.vtensor<[4],f32>, !torch.float, !torch.int -> !torch.vtensor<[4],f32>
    %5 = torch.aten.sqrt %4 : !torch.vtensor<[4],f32> -> !torch.vtensor<[4],f32>
    %6 = torch.aten.div.Tensor %2, %5 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[4],f32> -> !torch.vtensor<[2,4],f32>
    %7 = torch.vtensor.literal(dense_resource<torch_tensor_4_torch.float32_2> : tensor<4xf32>) : !torch.vtensor<[4],f32>
    %8 = torch.aten.mul.Tensor %6, %7 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[4],f32> -> !torch.vtensor<[2,4],f32>
    %9 = torch.vtensor.literal(dense_resource<torch_tensor_4_torch.float32_3> : tensor<4xf32>) : !torch.vtensor<[4],f32>
    %int1_1 = torch.constant.int 1
    %10 = torch.aten.add.Tensor %8, %9, %int1_1 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[4],f32>, !torch.int -> !torch.vtensor<[2,4],f32>
    %11 = torch_c.to_builtin_tensor %10 : !torch.vtensor<[2,4],f32> -> tensor<2x4xf32>
    return %11 : tensor<2x4xf32>
  }
}

{-#
  dialect_resources: {
    builtin: {
      torch_tensor_4_torch.float32: "0x04000000F716163F159FA03FC96B0EBE0AC826BF",
      torch_tensor_4_torch.float32_1: "0x040000002A37033FC882383FE2E4853FE47B5F3F",
      torch_tensor_4_torch.float32_2: "0x04000000F2392CBF3D96CB3F4B8881BF15C119BE",
      torch_tensor_4_torch.float32_3: "0x0400000041B205404A4732BFA9AAF03DD4A44CBF"
    }
  }
#-}
