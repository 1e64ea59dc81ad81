func.func @double_f32(%arg0: f32) -> f32 {
  %cst = arith.constant 2.000000e+00 : f32
  %0 = arith.mulf %arg0, %cst : f32
  return %0 : f32
}
