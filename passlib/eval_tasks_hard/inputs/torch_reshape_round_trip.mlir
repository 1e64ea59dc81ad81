module @module {
  func.func @main(%arg0: tensor<16xf32>) -> tensor<16xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<16xf32> -> !torch.vtensor<[16],f32>
    %int4 = torch.constant.int 4
    %int4_0 = torch.constant.int 4
    %1 = torch.prim.ListConstruct %int4, %int4_0 : (!torch.int, !torch.int) -> !torch.list<int>
    %2 = torch.aten.view %0, %1 : !torch.vtensor<[16],f32>, !torch.list<int> -> !torch.vtensor<[4,4],f32>
    %int16 = torch.constant.int 16
    %3 = torch.prim.ListConstruct %int16 : (!torch.int) -> !torch.list<int>
    %4 = torch.aten.view %2, %3 : !torch.vtensor<[4,4],f32>, !torch.list<int> -> !torch.vtensor<[16],f32>
    %float2.000000e00 = torch.constant.float 2.000000e+00
    %5 = torch.aten.mul.Scalar %4, %float2.000000e00 : !torch.vtensor<[16],f32>, !torch.float -> !torch.vtensor<[16],f32>
    %6 = torch_c.to_builtin_tensor %5 : !torch.vtensor<[16],f32> -> tensor<16xf32>
    return %6 : tensor<16xf32>
  }
}
