func.func @dot2(%arg0: i32, %arg1: i32, %arg2: i32, %arg3: i32) -> i32 {
  %0 = arith.muli %arg0, %arg1 : i32
  %1 = arith.muli %arg2, %arg3 : i32
  %2 = arith.addi %0, %1 : i32
  %3 = arith.muli %arg0, %arg1 : i32
  %4 = arith.muli %arg2, %arg3 : i32
  %5 = arith.addi %3, %4 : i32
  %6 = arith.xori %2, %5 : i32
  %7 = arith.addi %6, %2 : i32
  return %7 : i32
}
