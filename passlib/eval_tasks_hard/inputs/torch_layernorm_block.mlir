module @module {
  func.func @main(%arg0: tensor<2x8xf32>) -> tensor<2x8xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<2x8xf32> -> !torch.vtensor<[2,8],f32>
    %int-1 = torch.constant.int -1
    %1 = torch.prim.ListConstruct %int-1 : (!torch.int) -> !torch.list<int>
    %true = torch.constant.bool true
    %none = torch.constant.none
    %2 = torch.aten.mean.dim %0, %1, %true, %none : !torch.vtensor<[2,8],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[2,1],f32>
    %int1 = torch.constant.int 1
    %3 = torch.aten.sub.Tensor %0, %2, %int1 : !torch.vtensor<[2,8],f32>, !torch.vtensor<[2,1],f32>, !torch.int -> !torch.vtensor<[2,8],f32>
    %4 = torch.aten.mul.Tensor %3, %3 : !torch.vtensor<[2,8],f32>, !torch.vtensor<[2,8],f32> -> !torch.vtensor<[2,8],f32>
    %int-1_0 = torch.constant.int -1
    %5 = torch.prim.ListConstruct %int-1_0 : (!torch.int) -> !torch.list<int>
    %true_1 = torch.constant.bool true
    %none_2 = torch.constant.none
    %6 = torch.aten.mean.dim %4, %5, %true_1, %none_2 : !torch.vtensor<[2,8],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[2,1],f32>
    %float1.000000e-05 = torch.constant.float 1.000000e-05
    %int1_3 = torch.constant.int 1
    %7 = torch.aten.add.Scalar %6, %float1.000000e-05, %int1_3 : !torch.vtensor<[2,1],f32>, !torch.float, !torch.int -> !torch.vtensor<[2,1],f32>
    %8 = torch.aten.sqrt %7 : !torch.vtensor<[2,1],f32> -> !torch.vtensor<[2,1],f32>
    %9 = torch.aten.div.Tensor %3, %8 : !torch.vtensor<[2,8],f32>, !torch.vtensor<[2,1],f32> -> !torch.vtensor<[2,8],f32>
    %10 = torch_c.to_builtin_tensor %9 : !torch.vtensor<[2,8],f32> -> tensor<2x8xf32>
    return %10 : tensor<2x8xf32>
  }
}
