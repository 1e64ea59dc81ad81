module {
  func.func @main(%arg0: i32, %arg1: i32) -> i32 {
    %c8_i32 = arith.constant 8 : i32
    %c100_i32 = arith.constant 100 : i32
    %0 = arith.remui %arg0, %c8_i32 : i32
    %1 = arith.cmpi ult, %0, %c8_i32 : i32
    %2 = arith.muli %arg1, %c100_i32 : i32
    %3 = arith.select %1, %0, %2 : i32
    %4 = arith.addi %3, %arg1 : i32
    return %4 : i32
  }
}
