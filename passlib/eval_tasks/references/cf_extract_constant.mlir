func.func @table_lookup(%arg0: i32) -> i32 {
  %c11_i32 = arith.constant 11 : i32
  %0 = arith.muli %arg0, %c11_i32 : i32
  return %0 : i32
}
