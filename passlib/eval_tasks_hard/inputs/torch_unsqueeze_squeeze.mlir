module @module {
  func.func @main(%arg0: tensor<4x4xf32>) -> tensor<4x4xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<4x4xf32> -> !torch.vtensor<[4,4],f32>
    %int0 = torch.constant.int 0
    %1 = torch.aten.unsqueeze %0, %int0 : !torch.vtensor<[4,4],f32>, !torch.int -> !torch.vtensor<[1,4,4],f32>
    %int0_0 = torch.constant.int 0
    %2 = torch.aten.squeeze.dim %1, %int0_0 : !torch.vtensor<[1,4,4],f32>, !torch.int -> !torch.vtensor<[4,4],f32>
    %int1 = torch.constant.int 1
    %3 = torch.aten.unsqueeze %0, %int1 : !torch.vtensor<[4,4],f32>, !torch.int -> !torch.vtensor<[4,1,4],f32>
    %int1_1 = torch.constant.int 1
    %4 = torch.aten.squeeze.dim %3, %int1_1 : !torch.vtensor<[4,1,4],f32>, !torch.int -> !torch.vtensor<[4,4],f32>
    %int1_2 = torch.constant.int 1
    %5 = torch.aten.add.Tensor %2, %4, %int1_2 : !torch.vtensor<[4,4],f32>, !torch.vtensor<[4,4],f32>, !torch.int -> !torch.vtensor<[4,4],f32>
    %6 = torch_c.to_builtin_tensor %5 : !torch.vtensor<[4,4],f32> -> tensor<4x4xf32>
    return %6 : tensor<4x4xf32>
  }
}
