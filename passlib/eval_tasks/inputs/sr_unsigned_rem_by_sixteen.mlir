func.func @low_nibble(%arg0: i32) -> i32 {
  %c16_i32 = arith.constant 16 : i32
  %0 = arith.remui %arg0, %c16_i32 : i32
  return %0 : i32
}
