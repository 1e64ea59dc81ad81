func.func @quarter(%arg0: f32) -> f32 {
  %cst = arith.constant 2.500000e-01 : f32
  %0 = arith.mulf %arg0, %cst : f32
  return %0 : f32
}
