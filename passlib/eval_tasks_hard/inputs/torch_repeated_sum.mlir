module @module {
  func.func @main(%arg0: tensor<4x4xf32>, %arg1: tensor<4x4xf32>) -> tensor<4x4xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<4x4xf32> -> !torch.vtensor<[4,4],f32>
    %1 = torch_c.from_builtin_tensor %arg1 : tensor<4x4xf32> -> !torch.vtensor<[4,4],f32>
    %int1 = torch.constant.int 1
    %2 = torch.aten.add.Tensor %0, %1, %int1 : !torch.vtensor<[4,4],f32>, !torch.vtensor<[4,4],f32>, !torch.int -> !torch.vtensor<[4,4],f32>
    %int1_0 = torch.constant.int 1
    %3 = torch.aten.add.Tensor %0, %1, %int1_0 : !torch.vtensor<[4,4],f32>, !torch.vtensor<[4,4],f32>, !torch.int -> !torch.vtensor<[4,4],f32>
    %4 = torch.aten.mul.Tensor %2, %3 : !torch.vtensor<[4,4],f32>, !torch.vtensor<[4,4],f32> -> !torch.vtensor<[4,4],f32>
    %int1_1 = torch.constant.int 1
    %5 = torch.aten.sub.Tensor %4, %2, %int1_1 : !torch.vtensor<[4,4],f32>, !torch.vtensor<[4,4],f32>, !torch.int -> !torch.vtensor<[4,4],f32>
    %6 = torch_c.to_builtin_tensor %5 : !torch.vtensor<[4,4],f32> -> tensor<4x4xf32>
    return %6 : tensor<4x4xf32>
  }
}
