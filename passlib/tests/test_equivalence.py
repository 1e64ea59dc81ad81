"""Tests of passlib.equivalence: real iree-compile builds, run by iree.runtime in child processes."""

from __future__ import annotations

import pytest

from passlib import equivalence, ir

SCALE = """func.func @f(%x: f32) -> f32 {
  %0 = arith.mulf %x, %x : f32
  return %0 : f32
}"""


@pytest.fixture(scope="module")
def context():
    return ir.new_context()


@pytest.fixture(scope="module")
def checker():
    return equivalence.EquivalenceChecker(equivalence.EquivalenceOptions(run_timeout_s=8))


def _check(checker, context, original: str, candidate: str, name: str = "f"):
    return checker.check(ir.parse_module(original, context), ir.parse_module(candidate, context), name)


def test_f32_scalars_really_reach_the_function(checker, context):
    # IREE 3.8 turns a Python float for an f32 argument into 0.0; x*x and x+x agree at 0.0 only,
    # so the mismatch is found only if real values arrive (through the 0-d tensor wrapper).
    result = _check(checker, context, SCALE, SCALE.replace("arith.mulf %x, %x", "arith.addf %x, %x"))
    assert result.status == equivalence.MISMATCH
    assert "the original gives" in result.detail


def test_equivalent_rewrite_of_tensors_and_index_scalars(checker, context):
    original = """func.func @f(%t: tensor<?x3xi32>, %i: index) -> (tensor<?x3xi32>, index) {
  %c2 = arith.constant dense<2> : tensor<4x3xi32>
  %cast = tensor.cast %t : tensor<?x3xi32> to tensor<4x3xi32>
  %0 = arith.muli %cast, %c2 : tensor<4x3xi32>
  %back = tensor.cast %0 : tensor<4x3xi32> to tensor<?x3xi32>
  %c1 = arith.constant 1 : index
  %j = arith.addi %i, %c1 : index
  return %back, %j : tensor<?x3xi32>, index
}"""
    candidate = original.replace("%0 = arith.muli %cast, %c2", "%0 = arith.addi %cast, %cast")
    result = _check(checker, context, original, candidate)
    assert result.status == equivalence.EQUIVALENT, result.detail
    assert result.trials == 3


def test_float_tolerance(checker, context):
    original = """func.func @f(%a: tensor<8xf32>) -> tensor<8xf32> {
  %c = arith.constant dense<0.1> : tensor<8xf32>
  %0 = arith.mulf %a, %c : tensor<8xf32>
  return %0 : tensor<8xf32>
}"""
    candidate = original.replace("dense<0.1>", "dense<1.000000e+01>").replace("arith.mulf", "arith.divf")
    assert _check(checker, context, original, candidate).status == equivalence.EQUIVALENT
    wrong = original.replace("dense<0.1>", "dense<0.1001>")
    assert _check(checker, context, original, wrong).status == equivalence.MISMATCH


def test_non_terminating_rewrite_times_out(context):
    original = """func.func @f(%x: i32) -> i32 {
  %c1 = arith.constant 1 : i32
  %0 = arith.ori %x, %c1 : i32
  return %0 : i32
}"""
    candidate = """func.func @f(%x: i32) -> i32 {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %r = scf.while (%i = %x) : (i32) -> i32 {
    %again = arith.cmpi ne, %i, %c0 : i32
    scf.condition(%again) %i : i32
  } do {
  ^bb0(%j: i32):
    %n = arith.ori %j, %c1 : i32
    scf.yield %n : i32
  }
  %0 = arith.ori %r, %c1 : i32
  return %0 : i32
}"""
    quick = equivalence.EquivalenceChecker(equivalence.EquivalenceOptions(run_timeout_s=3))
    result = _check(quick, context, original, candidate)
    assert result.status == equivalence.TIMEOUT
    assert "longer than 3" in result.detail


def test_rewrite_that_crashes_is_caught(checker, context):
    original = """func.func @f(%x: i32, %t: tensor<4xi32>) -> i32 {
  %c1 = arith.constant 1 : i32
  %0 = arith.addi %x, %c1 : i32
  return %0 : i32
}"""
    candidate = """func.func @f(%x: i32, %t: tensor<4xi32>) -> i32 {
  %c1 = arith.constant 1 : i32
  %i = arith.index_cast %x : i32 to index
  %stride = arith.constant 100000000000 : index
  %far = arith.muli %i, %stride : index
  %e = tensor.extract %t[%far] : tensor<4xi32>
  %0 = arith.addi %e, %c1 : i32
  return %0 : i32
}"""
    result = _check(checker, context, original, candidate)
    assert result.status == equivalence.CRASH
    assert result.detail == "the process running it killed by SIGSEGV"


def test_rewrite_that_iree_cannot_compile(checker, context):
    original = """func.func @f(%x: i32) -> tensor<4xi32> {
  %e = tensor.empty() : tensor<4xi32>
  %0 = linalg.fill ins(%x : i32) outs(%e : tensor<4xi32>) -> tensor<4xi32>
  return %0 : tensor<4xi32>
}"""
    candidate = """func.func @f(%x: i32) -> tensor<4xi32> {
  %0 = tensor.splat %x : tensor<4xi32>
  return %0 : tensor<4xi32>
}"""
    result = _check(checker, context, original, candidate)
    assert result.status == equivalence.COMPILE_ERROR
    assert "tensor.splat" in result.detail


def test_functions_without_inputs_that_can_be_made_are_skipped(checker, context):
    memref = """func.func @f(%m: memref<4xf32>) -> f32 {
  %c0 = arith.constant 0 : index
  %0 = memref.load %m[%c0] : memref<4xf32>
  return %0 : f32
}"""
    result = _check(checker, context, memref, memref)
    assert result.status == equivalence.SKIPPED and "memref" in result.detail
    no_results = "func.func @f(%x: i32) {\n  return\n}"
    assert _check(checker, context, no_results, no_results).status == equivalence.SKIPPED


def test_functions_without_arguments_are_compared(checker, context):
    original = """func.func @f() -> i64 {
  %a = arith.constant 6 : i64
  %b = arith.constant 7 : i64
  %0 = arith.muli %a, %b : i64
  return %0 : i64
}"""
    folded = "func.func @f() -> i64 {\n  %c = arith.constant 42 : i64\n  return %c : i64\n}"
    assert _check(checker, context, original, folded).status == equivalence.EQUIVALENT
    wrong = folded.replace("42", "43")
    result = _check(checker, context, original, wrong)
    assert result.status == equivalence.MISMATCH and "42" in result.detail and "43" in result.detail
