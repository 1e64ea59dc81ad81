module @module {
  func.func @main(%arg0: tensor<2x4xf32>) -> tensor<2x4xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<2x4xf32> -> !torch.vtensor<[2,4],f32>
    %float4.471500e-02 = torch.constant.float 4.471500e-02
    %1 = torch.aten.mul.Scalar %0, %float4.471500e-02 : !torch.vtensor<[2,4],f32>, !torch.float -> !torch.vtensor<[2,4],f32>
    %2 = torch.aten.mul.Tensor %1, %0 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[2,4],f32> -> !torch.vtensor<[2,4],f32>
    %3 = torch.aten.mul.Tensor %2, %0 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[2,4],f32> -> !torch.vtensor<[2,4],f32>
    %int1 = torch.constant.int 1
    %4 = torch.aten.add.Tensor %0, %3, %int1 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[2,4],f32>, !torch.int -> !torch.vtensor<[2,4],f32>
    %float5.000000e-01 = torch.constant.float 5.000000e-01
    %5 = torch.aten.mul.Scalar %0, %float5.000000e-01 : !torch.vtensor<[2,4],f32>, !torch.float -> !torch.vtensor<[2,4],f32>
    %float7.978840e-01 = torch.constant.float 0.79788456080000003
    %6 = torch.aten.mul.Scalar %4, %float7.978840e-01 : !torch.vtensor<[2,4],f32>, !torch.float -> !torch.vtensor<[2,4],f32>
    %7 = torch.aten.tanh %6 : !torch.vtensor<[2,4],f32> -> !torch.vtensor<[2,4],f32>
    %float1.000000e00 = torch.constant.float 1.000000e+00
    %int1_0 = torch.constant.int 1
    %8 = torch.aten.add.Scalar %7, %float1.000000e00, %int1_0 : !torch.vtensor<[2,4],f32>, !torch.float, !torch.int -> !torch.vtensor<[2,4],f32>
    %9 = torch.aten.mul.Tensor %5, %8 : !torch.vtensor<[2,4],f32>, !torch.vtensor<[2,4],f32> -> !torch.vtensor<[2,4],f32>
    %10 = torch_c.to_builtin_tensor %9 : !torch.vtensor<[2,4],f32> -> tensor<2x4xf32>
    return %10 : tensor<2x4xf32>
  }
}
