func.func @times_three(%arg0: i32) -> i32 {
  %c3_i32 = arith.constant 3 : i32
  %0 = arith.muli %arg0, %c3_i32 : i32
  return %0 : i32
}
