module @module {
  func.func @main(%arg0: tensor<2x8xf32>) -> tensor<2x8xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<2x8xf32> -> !torch.vtensor<[2,8],f32>
    %int-1 = torch.constant.int -1
    %true = torch.constant.bool true
    %values, %indices = torch.aten.max.dim %0, %int-1, %true : !torch.vtensor<[2,8],f32>, !torch.int, !torch.bool -> !torch.vtensor<[2,1],f32>, !torch.vtensor<[2,1],si64>
    %int1 = torch.constant.int 1
    %1 = torch.aten.sub.Tensor %0, %values, %int1 : !torch.vtensor<[2,8],f32>, !torch.vtensor<[2,1],f32>, !torch.int -> !torch.vtensor<[2,8],f32>
    %2 = torch.aten.exp %1 : !torch.vtensor<[2,8],f32> -> !torch.vtensor<[2,8],f32>
    %int-1_0 = torch.constant.int -1
    %3 = torch.prim.ListConstruct %int-1_0 : (!torch.int) -> !torch.list<int>
    %true_1 = torch.constant.bool true
    %none = torch.constant.none
    %4 = torch.aten.sum.dim_IntList %2, %3, %true_1, %none : !torch.vtensor<[2,8],f32>, !torch.list<int>, !torch.bool, !torch.none -> !torch.vtensor<[2,1],f32>
    %5 = torch.aten.div.Tensor %2, %4 : !torch.vtensor<[2,8],f32>, !torch.vtensor<[2,1],f32> -> !torch.vtensor<[2,8],f32>
    %6 = torch_c.to_builtin_tensor %5 : !torch.vtensor<[2,8],f32> -> tensor<2x8xf32>
    return %6 : tensor<2x8xf32>
  }
}
