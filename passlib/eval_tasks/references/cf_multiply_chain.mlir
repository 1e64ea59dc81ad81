func.func @times_thirty(%arg0: i32) -> i32 {
  %c30_i32 = arith.constant 30 : i32
  %0 = arith.muli %arg0, %c30_i32 : i32
  return %0 : i32
}
