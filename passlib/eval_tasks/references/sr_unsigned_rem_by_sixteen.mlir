func.func @low_nibble(%arg0: i32) -> i32 {
  %c15_i32 = arith.constant 15 : i32
  %0 = arith.andi %arg0, %c15_i32 : i32
  return %0 : i32
}
