func.func @minus_product(%arg0: i32) -> i32 {
  %c6 = arith.constant 6 : index
  %c7 = arith.constant 7 : index
  %0 = arith.muli %c6, %c7 : index
  %1 = arith.index_cast %0 : index to i32
  %2 = arith.subi %arg0, %1 : i32
  return %2 : i32
}
