module @module {
  func.func @main(%arg0: tensor<4x8xf32>) -> tensor<4x8xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<4x8xf32> -> !torch.vtensor<[4,8],f32>
    %float1.000000e00 = torch.constant.float 1.000000e+00
    %1 = torch.aten.mul.Scalar %0, %float1.000000e00 : !torch.vtensor<[4,8],f32>, !torch.float -> !torch.vtensor<[4,8],f32>
    %float0.000000e00 = torch.constant.float 0.000000e+00
    %int1 = torch.constant.int 1
    %2 = torch.aten.add.Scalar %1, %float0.000000e00, %int1 : !torch.vtensor<[4,8],f32>, !torch.float, !torch.int -> !torch.vtensor<[4,8],f32>
    %3 = torch.aten.relu %2 : !torch.vtensor<[4,8],f32> -> !torch.vtensor<[4,8],f32>
    %float1.000000e00_0 = torch.constant.float 1.000000e+00
    %4 = torch.aten.mul.Scalar %3, %float1.000000e00_0 : !torch.vtensor<[4,8],f32>, !torch.float -> !torch.vtensor<[4,8],f32>
    %5 = torch_c.to_builtin_tensor %4 : !torch.vtensor<[4,8],f32> -> tensor<4x8xf32>
    return %5 : tensor<4x8xf32>
  }
}
