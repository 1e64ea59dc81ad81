func.func @times_sixteen(%arg0: i64) -> i64 {
  %c4_i64 = arith.constant 4 : i64
  %0 = arith.shli %arg0, %c4_i64 : i64
  return %0 : i64
}
