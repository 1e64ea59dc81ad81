module @module {
  func.func @main(%arg0: tensor<4x4xf32>) -> tensor<4x4xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<4x4xf32> -> !torch.vtensor<[4,4],f32>
    %float5.000000e-01 = torch.constant.float 5.000000e-01
    %1 = torch.aten.mul.Scalar %0, %float5.000000e-01 : !torch.vtensor<[4,4],f32>, !torch.float -> !torch.vtensor<[4,4],f32>
    %2 = torch.aten.tanh %1 : !torch.vtensor<[4,4],f32> -> !torch.vtensor<[4,4],f32>
    %int1 = torch.constant.int 1
    %3 = torch.aten.add.Tensor %0, %2, %int1 : !torch.vtensor<[4,4],f32>, !torch.vtensor<[4,4],f32>, !torch.int -> !torch.vtensor<[4,4],f32>
    %float5.000000e-01_0 = torch.constant.float 5.000000e-01
    %4 = torch.aten.mul.Scalar %0, %float5.000000e-01_0 : !torch.vtensor<[4,4],f32>, !torch.float -> !torch.vtensor<[4,4],f32>
    %5 = torch.aten.tanh %4 : !torch.vtensor<[4,4],f32> -> !torch.vtensor<[4,4],f32>
    %int1_1 = torch.constant.int 1
    %6 = torch.aten.add.Tensor %3, %5, %int1_1 : !torch.vtensor<[4,4],f32>, !torch.vtensor<[4,4],f32>, !torch.int -> !torch.vtensor<[4,4],f32>
    %7 = torch_c.to_builtin_tensor %6 : !torch.vtensor<[4,4],f32> -> tensor<4x4xf32>
    return %7 : tensor<4x4xf32>
  }
}
