module @module {
  func.func @main(%arg0: tensor<8xf32>) -> tensor<8xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<8xf32> -> !torch.vtensor<[8],f32>
    %float-1.000000e00 = torch.constant.float -1.000000e+00
    %float1.000000e00 = torch.constant.float 1.000000e+00
    %1 = torch.aten.clamp %0, %float-1.000000e00, %float1.000000e00 : !torch.vtensor<[8],f32>, !torch.float, !torch.float -> !torch.vtensor<[8],f32>
    %float-2.000000e00 = torch.constant.float -2.000000e+00
    %float2.000000e00 = torch.constant.float 2.000000e+00
    %2 = torch.aten.clamp %1, %float-2.000000e00, %float2.000000e00 : !torch.vtensor<[8],f32>, !torch.float, !torch.float -> !torch.vtensor<[8],f32>
    %float-1.000000e00_0 = torch.constant.float -1.000000e+00
    %float1.000000e00_1 = torch.constant.float 1.000000e+00
    %3 = torch.aten.clamp %0, %float-1.000000e00_0, %float1.000000e00_1 : !torch.vtensor<[8],f32>, !torch.float, !torch.float -> !torch.vtensor<[8],f32>
    %int1 = torch.constant.int 1
    %4 = torch.aten.add.Tensor %2, %3, %int1 : !torch.vtensor<[8],f32>, !torch.vtensor<[8],f32>, !torch.int -> !torch.vtensor<[8],f32>
    %5 = torch_c.to_builtin_tensor %4 : !torch.vtensor<[8],f32> -> tensor<8xf32>
    return %5 : tensor<8xf32>
  }
}
