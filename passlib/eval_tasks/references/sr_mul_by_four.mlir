func.func @times_four(%arg0: i32) -> i32 {
  %c2_i32 = arith.constant 2 : i32
  %0 = arith.shli %arg0, %c2_i32 : i32
  return %0 : i32
}
