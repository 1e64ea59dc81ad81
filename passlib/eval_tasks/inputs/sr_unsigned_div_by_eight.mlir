func.func @eighth(%arg0: i32) -> i32 {
  %c8_i32 = arith.constant 8 : i32
  %0 = arith.divui %arg0, %c8_i32 : i32
  return %0 : i32
}
