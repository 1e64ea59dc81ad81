func.func @minus_product(%arg0: i32) -> i32 {
  %c42_i32 = arith.constant 42 : i32
  %0 = arith.subi %arg0, %c42_i32 : i32
  return %0 : i32
}
