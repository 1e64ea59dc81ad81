func.func @keep_sum(%arg0: i32, %arg1: i32) -> i32 {
  %0 = arith.muli %arg0, %arg1 : i32
  %1 = arith.addi %arg0, %arg1 : i32
  %2 = arith.subi %0, %arg1 : i32
  %3 = arith.xori %2, %arg0 : i32
  return %1 : i32
}
