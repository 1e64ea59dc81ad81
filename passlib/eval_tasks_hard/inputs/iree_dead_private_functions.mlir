module {
  func.func private @dead_a(%arg0: i32) -> i32 {
    %0 = call @dead_b(%arg0) : (i32) -> i32
    %1 = arith.muli %0, %0 : i32
    return %1 : i32
  }
  func.func private @dead_b(%arg0: i32) -> i32 {
    %c2_i32 = arith.constant 2 : i32
    %0 = arith.shli %arg0, %c2_i32 : i32
    return %0 : i32
  }
  func.func private @live(%arg0: i32, %arg1: i32) -> i32 {
    %0 = arith.xori %arg0, %arg1 : i32
    return %0 : i32
  }
  func.func @main(%arg0: i32, %arg1: i32) -> i32 {
    %0 = call @live(%arg0, %arg1) : (i32, i32) -> i32
    %1 = arith.addi %0, %arg0 : i32
    return %1 : i32
  }
}
