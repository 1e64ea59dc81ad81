func.func @identities(%arg0: i32) -> i32 {
  %c0_i32 = arith.constant 0 : i32
  %c1_i32 = arith.constant 1 : i32
  %0 = arith.addi %arg0, %c0_i32 : i32
  %1 = arith.muli %0, %c1_i32 : i32
  %2 = arith.subi %1, %c0_i32 : i32
  %3 = arith.ori %2, %c0_i32 : i32
  return %3 : i32
}
