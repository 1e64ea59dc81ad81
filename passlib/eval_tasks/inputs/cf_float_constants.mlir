func.func @affine_f32(%arg0: f32) -> f32 {
  %cst = arith.constant 1.500000e+00 : f32
  %cst_0 = arith.constant 2.500000e+00 : f32
  %cst_1 = arith.constant 5.000000e-01 : f32
  %0 = arith.addf %cst, %cst_0 : f32
  %1 = arith.mulf %0, %cst_1 : f32
  %2 = arith.mulf %arg0, %1 : f32
  %3 = arith.addf %2, %cst_0 : f32
  return %3 : f32
}
