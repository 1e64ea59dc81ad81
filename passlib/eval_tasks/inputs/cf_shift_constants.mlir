func.func @mask_bits(%arg0: i64) -> i64 {
  %c1_i64 = arith.constant 1 : i64
  %c4_i64 = arith.constant 4 : i64
  %0 = arith.shli %c1_i64, %c4_i64 : i64
  %1 = arith.ori %0, %c1_i64 : i64
  %2 = arith.xori %arg0, %1 : i64
  return %2 : i64
}
