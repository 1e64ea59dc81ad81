func.func @mask_bits(%arg0: i64) -> i64 {
  %c17_i64 = arith.constant 17 : i64
  %0 = arith.xori %arg0, %c17_i64 : i64
  return %0 : i64
}
