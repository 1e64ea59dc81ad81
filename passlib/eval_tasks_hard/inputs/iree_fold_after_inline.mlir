module {
  func.func private @scale(%arg0: i32, %arg1: i32, %arg2: i32) -> i32 {
    %0 = arith.muli %arg1, %arg2 : i32
    %1 = arith.addi %0, %arg1 : i32
    %2 = arith.muli %arg0, %1 : i32
    return %2 : i32
  }
  func.func @main(%arg0: i32, %arg1: i32) -> i32 {
    %c3_i32 = arith.constant 3 : i32
    %c5_i32 = arith.constant 5 : i32
    %c7_i32 = arith.constant 7 : i32
    %0 = call @scale(%arg0, %c3_i32, %c5_i32) : (i32, i32, i32) -> i32
    %1 = call @scale(%arg1, %c7_i32, %c3_i32) : (i32, i32, i32) -> i32
    %2 = arith.addi %0, %1 : i32
    return %2 : i32
  }
}
