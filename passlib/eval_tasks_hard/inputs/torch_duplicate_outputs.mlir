module @module {
  func.func @main(%arg0: tensor<3x3xf32>, %arg1: tensor<3x3xf32>) -> (tensor<3x3xf32>, tensor<3x3xf32>) {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<3x3xf32> -> !torch.vtensor<[3,3],f32>
    %1 = torch_c.from_builtin_tensor %arg1 : tensor<3x3xf32> -> !torch.vtensor<[3,3],f32>
    %2 = torch.aten.mul.Tensor %0, %1 : !torch.vtensor<[3,3],f32>, !torch.vtensor<[3,3],f32> -> !torch.vtensor<[3,3],f32>
    %float1.000000e00 = torch.constant.float 1.000000e+00
    %int1 = torch.constant.int 1
    %3 = torch.aten.add.Scalar %2, %float1.000000e00, %int1 : !torch.vtensor<[3,3],f32>, !torch.float, !torch.int -> !torch.vtensor<[3,3],f32>
    %4 = torch.aten.mul.Tensor %0, %1 : !torch.vtensor<[3,3],f32>, !torch.vtensor<[3,3],f32> -> !torch.vtensor<[3,3],f32>
    %float1.000000e00_0 = torch.constant.float 1.000000e+00
    %int1_1 = torch.constant.int 1
    %5 = torch.aten.add.Scalar %4, %float1.000000e00_0, %int1_1 : !torch.vtensor<[3,3],f32>, !torch.float, !torch.int -> !torch.vtensor<[3,3],f32>
    %6 = torch_c.to_builtin_tensor %3 : !torch.vtensor<[3,3],f32> -> tensor<3x3xf32>
    %7 = torch_c.to_builtin_tensor %5 : !torch.vtensor<[3,3],f32> -> tensor<3x3xf32>
    return %6, %7 : tensor<3x3xf32>, tensor<3x3xf32>
  }
}
