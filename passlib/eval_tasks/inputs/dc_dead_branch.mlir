func.func @always_then(%arg0: i32) -> i32 {
  %true = arith.constant true
  %c1_i32 = arith.constant 1 : i32
  %0 = scf.if %true -> (i32) {
    %1 = arith.addi %arg0, %c1_i32 : i32
    scf.yield %1 : i32
  } else {
    %1 = arith.subi %arg0, %c1_i32 : i32
    scf.yield %1 : i32
  }
  return %0 : i32
}
