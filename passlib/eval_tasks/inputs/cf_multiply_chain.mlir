func.func @times_thirty(%arg0: i32) -> i32 {
  %c2_i32 = arith.constant 2 : i32
  %c3_i32 = arith.constant 3 : i32
  %c5_i32 = arith.constant 5 : i32
  %0 = arith.muli %c2_i32, %c3_i32 : i32
  %1 = arith.muli %0, %c5_i32 : i32
  %2 = arith.muli %arg0, %1 : i32
  return %2 : i32
}
