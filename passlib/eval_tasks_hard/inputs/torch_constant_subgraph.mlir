module @module {
  func.func @main(%arg0: tensor<4xf32>) -> tensor<4xf32> {
    %0 = torch_c.from_builtin_tensor %arg0 : tensor<4xf32> -> !torch.vtensor<[4],f32>
    %int4 = torch.constant.int 4
    %1 = torch.prim.ListConstruct %int4 : (!torch.int) -> !torch.list<int>
    %none = torch.constant.none
    %none_0 = torch.constant.none
    %cpu = torch.constant.device "cpu"
    %false = torch.constant.bool false
    %2 = torch.aten.ones %1, %none, %none_0, %cpu, %false : !torch.list<int>, !torch.none, !torch.none, !torch.Device, !torch.bool -> !torch.vtensor<[4],f32>
    %float3.000000e00 = torch.constant.float 3.000000e+00
    %3 = torch.aten.mul.Scalar %2, %float3.000000e00 : !torch.vtensor<[4],f32>, !torch.float -> !torch.vtensor<[4],f32>
    %float2.000000e00 = torch.constant.float 2.000000e+00
    %int1 = torch.constant.int 1
    %4 = torch.aten.add.Scalar %3, %float2.000000e00, %int1 : !torch.vtensor<[4],f32>, !torch.float, !torch.int -> !torch.vtensor<[4],f32>
    %int1_1 = torch.constant.int 1
    %5 = torch.aten.add.Tensor %0, %4, %int1_1 : !torch.vtensor<[4],f32>, !torch.vtensor<[4],f32>, !torch.int -> !torch.vtensor<[4],f32>
    %6 = torch_c.to_builtin_tensor %5 : !torch.vtensor<[4],f32> -> tensor<4xf32>
    return %6 : tensor<4xf32>
  }
}
