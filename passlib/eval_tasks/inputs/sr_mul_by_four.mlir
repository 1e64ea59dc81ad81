func.func @times_four(%arg0: i32) -> i32 {
  %c4_i32 = arith.constant 4 : i32
  %0 = arith.muli %arg0, %c4_i32 : i32
  return %0 : i32
}
