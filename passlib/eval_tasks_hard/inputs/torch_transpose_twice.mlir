module @module {
  func.func @main(%arg0: tensor<3x5xf32>) -> tensor<3x5xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<3x5xf32> -> !torch.vtensor<[3,5],f32>
    %int0 = torch.constant.int 0
    %int1 = torch.constant.int 1
    %1 = torch.aten.transpose.int %0, %int0, %int1 : !torch.vtensor<[3,5],f32>, !torch.int, !torch.int -> !torch.vtensor<[5,3],f32>
    %int0_0 = torch.constant.int 0
    %int1_1 = torch.constant.int 1
    %2 = torch.aten.transpose.int %1, %int0_0, %int1_1 : !torch.vtensor<[5,3],f32>, !torch.int, !torch.int -> !torch.vtensor<[3,5],f32>
    %float1.000000e00 = torch.constant.float 1.000000e+00
    %int1_2 = torch.constant.int 1
    %3 = torch.aten.add.Scalar %2, %float1.000000e00, %int1_2 : !torch.vtensor<[3,5],f32>, !torch.float, !torch.int -> !torch.vtensor<[3,5],f32>
    %4 = torch_c.to_builtin_tensor %3 : !torch.vtensor<[3,5],f32> -> tensor<3x5xf32>
    return %4 : tensor<3x5xf32>
  }
}
