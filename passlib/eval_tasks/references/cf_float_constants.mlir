func.func @affine_f32(%arg0: f32) -> f32 {
  %cst = arith.constant 2.000000e+00 : f32
  %cst_0 = arith.constant 2.500000e+00 : f32
  %0 = arith.mulf %arg0, %cst : f32
  %1 = arith.addf %0, %cst_0 : f32
  return %1 : f32
}
