module @module {
  func.func @main(%arg0: tensor<2x6xf32>) -> tensor<2x6xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<2x6xf32> -> !torch.vtensor<[2,6],f32>
    %float1.000000e00 = torch.constant.float 1.000000e+00
    %int1 = torch.constant.int 1
    %1 = torch.aten.add.Scalar %0, %float1.000000e00, %int1 : !torch.vtensor<[2,6],f32>, !torch.float, !torch.int -> !torch.vtensor<[2,6],f32>
    %float2.000000e00 = torch.constant.float 2.000000e+00
    %2 = torch.aten.mul.Scalar %1, %float2.000000e00 : !torch.vtensor<[2,6],f32>, !torch.float -> !torch.vtensor<[2,6],f32>
    %float3.000000e00 = torch.constant.float 3.000000e+00
    %int1_0 = torch.constant.int 1
    %3 = torch.aten.sub.Scalar %2, %float3.000000e00, %int1_0 : !torch.vtensor<[2,6],f32>, !torch.float, !torch.int -> !torch.vtensor<[2,6],f32>
    %float4.000000e00 = torch.constant.float 4.000000e+00
    %4 = torch.aten.div.Scalar %3, %float4.000000e00 : !torch.vtensor<[2,6],f32>, !torch.float -> !torch.vtensor<[2,6],f32>
    %5 = torch.aten.sigmoid %4 : !torch.vtensor<[2,6],f32> -> !torch.vtensor<[2,6],f32>
    %6 = torch_c.to_builtin_tensor %5 : !torch.vtensor<[2,6],f32> -> tensor<2x6xf32>
    return %6 : tensor<2x6xf32>
  }
}
