module @module {
  func.func @main(%arg0: tensor<16xf32>) -> tensor<16xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<16xf32> -> !torch.vtensor<[16],f32>
    %int2 = torch.constant.int 2
    %int8 = torch.constant.int 8
    %1 = torch.prim.ListConstruct %int2, %int8 : (!torch.int, !torch.int) -> !torch.list<int>
    %2 = torch.aten.view %0, %1 : !torch.vtensor<[16],f32>, !torch.list<int> -> !torch.vtensor<[2,8],f32>
    %int4 = torch.constant.int 4
    %int4_0 = torch.constant.int 4
    %3 = torch.prim.ListConstruct %int4, %int4_0 : (!torch.int, !torch.int) -> !torch.list<int>
    %4 = torch.aten.view %2, %3 : !torch.vtensor<[2,8],f32>, !torch.list<int> -> !torch.vtensor<[4,4],f32>
    %int16 = torch.constant.int 16
    %5 = torch.prim.ListConstruct %int16 : (!torch.int) -> !torch.list<int>
    %6 = torch.aten.view %4, %5 : !torch.vtensor<[4,4],f32>, !torch.list<int> -> !torch.vtensor<[16],f32>
    %float1.000000e00 = torch.constant.float 1.000000e+00
    %int1 = torch.constant.int 1
    %7 = torch.aten.add.Scalar %6, %float1.000000e00, %int1 : !torch.vtensor<[16],f32>, !torch.float, !torch.int -> !torch.vtensor<[16],f32>
    %8 = torch_c.to_builtin_tensor %7 : !torch.vtensor<[16],f32> -> tensor<16xf32>
    return %8 : tensor<16xf32>
  }
}
