"""Tests of passlib.ir against IREE's real MLIR bindings and iree-opt."""

from __future__ import annotations

import pytest

from passlib import ir

MODULE = """
util.global private @offset = 3 : i32
func.func private @add_offset(%arg0: i32) -> i32 {
  %0 = util.global.load @offset : i32
  %1 = arith.addi %arg0, %0 : i32
  return %1 : i32
}
func.func private @external(i32) -> i32
func.func @main(%arg0: i32) -> i32 {
  %c2_i32 = arith.constant 2 : i32
  %0 = arith.muli %arg0, %c2_i32 : i32
  %1 = call @add_offset(%0) : (i32) -> i32
  %2 = call @external(%1) : (i32) -> i32
  return %2 : i32
}
"""


@pytest.fixture
def context():
    return ir.new_context()


def test_parse_error_and_verify_error_are_told_apart(context):
    with pytest.raises(ir.IrError) as parse_error:
        ir.parse_module("func.func @f(%x: i32) -> i32 {\n  return %y : i32\n}", context, "a.mlir")
    assert parse_error.value.stage == ir.PARSE_STAGE
    assert parse_error.value.diagnostics[0].line == 2
    assert "undeclared SSA value" in str(parse_error.value)
    assert "a.mlir" in str(parse_error.value)

    with pytest.raises(ir.IrError) as verify_error:
        ir.parse_module("func.func @f(%x: i32) -> i64 {\n  return %x : i32\n}", context)
    assert verify_error.value.stage == ir.VERIFY_STAGE
    assert "doesn't match function result type" in verify_error.value.diagnostics[0].message

    with pytest.raises(ir.IrError) as unknown_dialect:
        ir.parse_module("func.func @f() {\n  foo.bar\n  return\n}", context)
    assert unknown_dialect.value.stage == ir.PARSE_STAGE


def test_print_without_locations_in_both_forms(context):
    module = ir.parse_module(MODULE, context)
    pretty = ir.print_ir(module)
    generic = ir.print_ir(module, generic=True)
    assert "loc(" not in pretty and "loc(" not in generic
    assert "arith.muli %arg0, %c2_i32 : i32" in pretty
    assert '"arith.muli"' in generic and '"func.func"()' in generic
    assert ir.print_ir(ir.parse_module(generic, context), generic=True) == generic


def test_split_functions_gives_standalone_units(context):
    module = ir.parse_module(MODULE, context)
    units = {unit.name: unit.module for unit in ir.split_functions(module)}
    assert sorted(units) == ["add_offset", "main"]
    main_text = ir.print_body(units["main"])
    assert "func.func private @add_offset(i32) -> i32\n" in main_text
    assert "util.global" not in main_text
    helper_text = ir.print_body(units["add_offset"])
    assert "util.global private @offset" in helper_text
    for unit in units.values():
        reparsed = ir.parse_module(ir.print_ir(unit), context)
        assert ir.verify(reparsed) == []


def test_execution_unit_keeps_callee_bodies_and_globals(context):
    module = ir.parse_module(MODULE, context)
    unit = ir.extract_unit(module, "main", callee_bodies=True)
    assert ir.count_ops(ir.find_function(unit, "add_offset")) == 3
    assert ir.op_histogram(unit)["util.global"] == 1


def test_signatures_and_differences(context):
    module = ir.parse_module(MODULE, context)
    main = ir.signature(ir.find_function(module, "main"))
    assert main == ir.FunctionSignature("main", ("i32",), ("i32",))
    other = ir.FunctionSignature("main", ("i64",), ("i32", "i1"))
    differences = ir.signature_differences(main, other)
    assert len(differences) == 2
    assert "argument types are (i64), expected (i32)" in differences[0]
    assert ir.signature_differences(main, main) == []


def test_count_ops_and_histogram(context):
    module = ir.parse_module(MODULE, context)
    histogram = ir.op_histogram(module)
    assert histogram["func.func"] == 3
    assert histogram["func.call"] == 2
    assert ir.count_ops(module) == sum(histogram.values()) == 12
    assert ir.count_ops(ir.find_function(module, "main")) == 5


def test_replace_function_in_place(context):
    module = ir.parse_module(MODULE, context)
    answer = ir.parse_module(
        "func.func private @add_offset(i32) -> i32\n"
        "func.func private @external(i32) -> i32\n"
        "func.func @main(%arg0: i32) -> i32 {\n"
        "  %0 = arith.addi %arg0, %arg0 : i32\n"
        "  %1 = call @add_offset(%0) : (i32) -> i32\n"
        "  %2 = call @external(%1) : (i32) -> i32\n"
        "  return %2 : i32\n}\n",
        context,
    )
    ir.replace_function(module, ir.find_function(answer, "main"))
    assert ir.verify(module) == []
    names = [ir.symbol_name(op) for op in ir.functions(module)]
    assert names == ["add_offset", "external", "main"]
    assert "arith.muli" not in ir.print_ir(module)
    assert ir.count_ops(ir.find_function(module, "main")) == 4


def test_verify_reports_diagnostics_of_broken_ir(context):
    module = ir.parse_module("func.func @f(%x: i32) -> i32 {\n  %0 = arith.addi %x, %x : i32\n  return %0 : i32\n}",
                             context)
    body = ir.find_function(module, "f").operation.regions[0].blocks[0]
    body.operations[1].erase()
    diagnostics = ir.verify(module)
    assert diagnostics and "terminator" in diagnostics[0].message
