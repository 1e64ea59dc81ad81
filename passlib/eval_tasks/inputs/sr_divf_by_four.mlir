func.func @quarter(%arg0: f32) -> f32 {
  %cst = arith.constant 4.000000e+00 : f32
  %0 = arith.divf %arg0, %cst : f32
  return %0 : f32
}
