module {
  util.func private @helper(%arg0: i32, %arg1: i32) -> (i32, i32) {
    %0 = arith.muli %arg0, %arg1 : i32
    %1 = arith.addi %arg0, %arg1 : i32
    %2 = arith.subi %1, %0 : i32
    util.return %0, %2 : i32, i32
  }
  func.func @main(%arg0: i32, %arg1: i32) -> i32 {
    %c3_i32 = arith.constant 3 : i32
    %0:2 = util.call @helper(%arg0, %c3_i32) : (i32, i32) -> (i32, i32)
    %1:2 = util.call @helper(%arg1, %c3_i32) : (i32, i32) -> (i32, i32)
    %2 = arith.addi %0#0, %1#0 : i32
    return %2 : i32
  }
}
