module {
  util.global private @scale = 6 : i32
  util.global private @offset = 4 : i32
  util.global private @unused = 9 : i32
  func.func @main(%arg0: i32) -> i32 {
    %scale = util.global.load @scale : i32
    %offset = util.global.load @offset : i32
    %scale_0 = util.global.load @scale : i32
    %0 = arith.muli %scale, %offset : i32
    %1 = arith.addi %arg0, %0 : i32
    %2 = arith.muli %1, %scale_0 : i32
    return %2 : i32
  }
}
