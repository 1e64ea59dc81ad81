func.func @times_sixteen(%arg0: i64) -> i64 {
  %c16_i64 = arith.constant 16 : i64
  %0 = arith.muli %arg0, %c16_i64 : i64
  return %0 : i64
}
