module @module {
  func.func @main(%arg0: tensor<4x3xf32>, %arg1: tensor<4x3xf32>) -> tensor<4x3xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<4x3xf32> -> !torch.vtensor<[4,3],f32>
    %1 = torch_c.from_builtin_tensor %arg1 : tensor<4x3xf32> -> !torch.vtensor<[4,3],f32>
    %2 = torch.prim.ListConstruct %0, %1 : (!torch.vtensor<[4,3],f32>, !torch.vtensor<[4,3],f32>) -> !torch.list<vtensor>
    %int0 = torch.constant.int 0
    %3 = torch.aten.cat %2, %int0 : !torch.list<vtensor>, !torch.int -> !torch.vtensor<[8,3],f32>
    %int0_0 = torch.constant.int 0
    %int0_1 = torch.constant.int 0
    %int4 = torch.constant.int 4
    %int1 = torch.constant.int 1
    %4 = torch.aten.slice.Tensor %3, %int0_0, %int0_1, %int4, %int1 : !torch.vtensor<[8,3],f32>, !torch.int, !torch.int, !torch.int, !torch.int -> !torch.vtensor<[4,3],f32>
    %float2.000000e00 = torch.constant.float 2.000000e+00
    %5 = torch.aten.mul.Scalar %4, %float2.000000e00 : !torch.vtensor<[4,3],f32>, !torch.float -> !torch.vtensor<[4,3],f32>
    %6 = torch_c.to_builtin_tensor %5 : !torch.vtensor<[4,3],f32> -> tensor<4x3xf32>
    return %6 : tensor<4x3xf32>
  }
}
