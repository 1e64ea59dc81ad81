module {
  func.func @main(%arg0: i32, %arg1: i32) -> (i32, i32) {
    %c10_i32 = arith.constant 10 : i32
    %0 = arith.cmpi ult, %arg0, %c10_i32 : i32
    %1 = arith.cmpi ult, %arg0, %c10_i32 : i32
    %2 = arith.select %0, %arg0, %arg1 : i32
    %3 = arith.select %1, %arg1, %arg0 : i32
    return %2, %3 : i32, i32
  }
}
