module @module {
  func.func @main(%arg0: tensor<2x3x4xf32>) -> tensor<2x3x4xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<2x3x4xf32> -> !torch.vtensor<[2,3,4],f32>
    %int1 = torch.constant.int 1
    %int0 = torch.constant.int 0
    %int2 = torch.constant.int 2
    %1 = torch.prim.ListConstruct %int1, %int0, %int2 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
    %2 = torch.aten.permute %0, %1 : !torch.vtensor<[2,3,4],f32>, !torch.list<int> -> !torch.vtensor<[3,2,4],f32>
    %int1_0 = torch.constant.int 1
    %int0_1 = torch.constant.int 0
    %int2_2 = torch.constant.int 2
    %3 = torch.prim.ListConstruct %int1_0, %int0_1, %int2_2 : (!torch.int, !torch.int, !torch.int) -> !torch.list<int>
    %4 = torch.aten.permute %2, %3 : !torch.vtensor<[3,2,4],f32>, !torch.list<int> -> !torch.vtensor<[2,3,4],f32>
    %float2.000000e00 = torch.constant.float 2.000000e+00
    %5 = torch.aten.mul.Scalar %4, %float2.000000e00 : !torch.vtensor<[2,3,4],f32>, !torch.float -> !torch.vtensor<[2,3,4],f32>
    %6 = torch_c.to_builtin_tensor %5 : !torch.vtensor<[2,3,4],f32> -> tensor<2x3x4xf32>
    return %6 : tensor<2x3x4xf32>
  }
}
