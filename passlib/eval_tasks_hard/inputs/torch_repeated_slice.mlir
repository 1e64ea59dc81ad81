module @module {
  func.func @main(%arg0: tensor<4x5xf32>) -> tensor<4x2xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<4x5xf32> -> !torch.vtensor<[4,5],f32>
    %int1 = torch.constant.int 1
    %int1_0 = torch.constant.int 1
    %int3 = torch.constant.int 3
    %int1_1 = torch.constant.int 1
    %1 = torch.aten.slice.Tensor %0, %int1, %int1_0, %int3, %int1_1 : !torch.vtensor<[4,5],f32>, !torch.int, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[4,2],f32>
    %int1_2 = torch.constant.int 1
    %int1_3 = torch.constant.int 1
    %int3_4 = torch.constant.int 3
    %int1_5 = torch.constant.int 1
    %2 = torch.aten.slice.Tensor %0, %int1_2, %int1_3, %int3_4, %int1_5 : !torch.vtensor<[4,5],f32>, !torch.int, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[4,2],f32>
    %int1_6 = torch.constant.int 1
    %int1_7 = torch.constant.int 1
    %int3_8 = torch.constant.int 3
    %int1_9 = torch.constant.int 1
    %3 = torch.aten.slice.Tensor %0, %int1_6, %int1_7, %int3_8, %int1_9 : !torch.vtensor<[4,5],f32>, !torch.int, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[4,2],f32>
    %4 = torch.aten.mul.Tensor %2, %3 : !torch.vtensor<[4,2],f32>, !torch.vtensor<[4,2],f32> -> !torch.vtensor<[4,2],f32>
    %int1_10 = torch.constant.int 1
    %5 = torch.aten.add.Tensor %1, %4, %int1_10 : !torch.vtensor<[4,2],f32>, !torch.vtensor<[4,2],f32>, !torch.int -> !torch.vtensor<[4,2],f32>
    %6 = torch_c.to_builtin_tensor %5 : !torch.vtensor<[4,2],f32> -> tensor<4x2xf32>
    return %6 : tensor<4x2xf32>
  }
}
