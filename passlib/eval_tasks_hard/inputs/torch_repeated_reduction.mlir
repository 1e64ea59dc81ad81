module @module {
  func.func @main(%arg0: tensor<3x5xf32>) -> tensor<3xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<3x5xf32> -> !torch.vtensor<[3,5],f32>
    %int1 = torch.constant.int 1
    %1 = torch.prim.ListConstruct %int1 : (!torch.int) -> !torch.list<int>
    %false = torch.constant.bool false
    %none = torch.constant.none
    %2 = torch.aten.sum.dim_IntList %0, %1, %false, %none : !torch.vtensor<[3,5],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[3],f32>
    %int1_0 = torch.constant.int 1
    %3 = torch.prim.ListConstruct %int1_0 : (!torch.int) -> !torch.list<int>
    %false_1 = torch.constant.bool false
    %none_2 = torch.constant.none
    %4 = torch.aten.sum.dim_IntList %0, %3, %false_1, %none_2 : !torch.vtensor<[3,5],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[3],f32>
    %float5.000000e-01 = torch.constant.float 5.000000e-01
    %5 = torch.aten.mul.Scalar %4, %float5.000000e-01 : !torch.vtensor<[3],f32>, !torch.float -> !torch.vtensor<[3],f32>
    %int1_3 = torch.constant.int 1
    %6 = torch.aten.add.Tensor %2, %5, %int1_3 : !torch.vtensor<[3],f32>, !torch.vtensor<[3],f32>, !torch.int -> !torch.vtensor<[3],f32>
    %7 = torch_c.to_builtin_tensor %6 : !torch.vtensor<[3],f32> -> tensor<3xf32>
    return %7 : tensor<3xf32>
  }
}
