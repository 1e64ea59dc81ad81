"""The near-duplicate index that keeps the evaluation functions out of the training data.

Every evaluation input (both task sets, both splits) is found by its own task, as written, renamed
and reformatted, and with one constant changed; hand-written unrelated functions are not matched;
functions under MIN_FUZZY_OPS operations match only when equal; check_disjoint reports records that
hold an evaluation function, in a module, a Candidate or a prompt. Runs in a few seconds.
"""

from __future__ import annotations

import pathlib
import random
import re
import time

import pytest

from passlib import evaluate
from passlib.training_data import near_duplicates as nd
from passlib.training_data.candidate import Candidate

PASSLIB = pathlib.Path(__file__).parent.parent.parent
TASK_SETS = [PASSLIB / "eval_tasks", PASSLIB / "eval_tasks_hard"]
TASKS = [task for path in TASK_SETS for task in evaluate.load_task_set(path)]

MULTIPLY_CHAIN = (PASSLIB / "eval_tasks" / "inputs" / "cf_multiply_chain.mlir").read_text()

# Functions unlike every evaluation function (checked by test_unrelated_functions_are_not_matched).
UNRELATED = {
    "popcount_loop": """
func.func @popcount(%x: i64) -> i64 {
  %c0 = arith.constant 0 : index
  %c64 = arith.constant 64 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0 : i64
  %one = arith.constant 1 : i64
  %r = scf.for %i = %c0 to %c64 step %c1 iter_args(%acc = %zero) -> (i64) {
    %s = arith.index_cast %i : index to i64
    %shifted = arith.shrui %x, %s : i64
    %bit = arith.andi %shifted, %one : i64
    %next = arith.addi %acc, %bit : i64
    scf.yield %next : i64
  }
  return %r : i64
}
""",
    "clamp_select": """
func.func @clamp(%x: f32, %lo: f32, %hi: f32) -> f32 {
  %below = arith.cmpf olt, %x, %lo : f32
  %a = arith.select %below, %lo, %x : f32
  %above = arith.cmpf ogt, %a, %hi : f32
  %b = arith.select %above, %hi, %a : f32
  %sq = math.sqrt %b : f32
  %e = math.exp %sq : f32
  return %e : f32
}
""",
    "tensor_shuffle": """
func.func @swap_ends(%t: tensor<5xi32>) -> tensor<5xi32> {
  %c0 = arith.constant 0 : index
  %c4 = arith.constant 4 : index
  %first = tensor.extract %t[%c0] : tensor<5xi32>
  %last = tensor.extract %t[%c4] : tensor<5xi32>
  %t1 = tensor.insert %last into %t[%c0] : tensor<5xi32>
  %t2 = tensor.insert %first into %t1[%c4] : tensor<5xi32>
  return %t2 : tensor<5xi32>
}
""",
    "gcd_step": """
func.func @gcd_step(%a: i32, %b: i32) -> (i32, i32) {
  %r = arith.remui %a, %b : i32
  %m = arith.maxui %b, %r : i32
  %n = arith.minui %b, %r : i32
  %p = arith.ctpop %m : i32
  %q = arith.xori %n, %p : i32
  return %m, %q : i32, i32
}
""",
}


@pytest.fixture(scope="module")
def index() -> nd.EvaluationIndex:
    return nd.EvaluationIndex.from_task_sets()


def _function_names(text: str) -> list[str]:
    return [function.name for function in nd.normalize_module(text)]


def test_the_index_reads_every_task_of_both_sets_and_both_splits(index):
    assert [path.as_posix() for path in nd.DEFAULT_TASK_SETS] == ["passlib/eval_tasks", "passlib/eval_tasks_hard"]
    # The same directories as the test's own (compared by their task files: under Bazel one may be the
    # runfiles tree and the other the source tree).
    for default, own in zip(nd.default_task_set_paths(), TASK_SETS, strict=True):
        assert sorted(p.name for p in default.rglob("*.mlir")) == sorted(p.name for p in own.rglob("*.mlir"))
        assert default.parts[-2:] == own.parts[-2:]
    assert index.tasks == [task.name for task in TASKS]
    assert len(TASKS) == 100
    assert {entry.split for entry in index.functions} == {"tune", "eval"}
    assert {entry.normalized.form for entry in index.functions} == {nd.GENERIC, nd.TEXT}
    # An absolute path list works as well as the default relative one.
    assert nd.EvaluationIndex.from_task_sets(TASK_SETS).tasks == index.tasks


def test_every_evaluation_input_is_found_as_is_renamed_and_with_one_constant_changed(index):
    """Bounded and exhaustive: every input, every function, every constant of it (< 30 s)."""
    started = time.perf_counter()
    functions = constants = 0
    for task in TASKS:
        text = task.input.read_text(encoding="utf-8")
        names = _function_names(text)
        assert names, task.name
        own = {match.function for match in index.matches(text) if match.task == task.name and match.exact}
        assert own == set(names), task.name
        renamed = nd.renamed_copy(text)
        assert renamed != text
        found = {match.candidate_function for match in index.matches(renamed)
                 if match.task == task.name and match.exact}
        assert found == {"renamed_" + name for name in names}, task.name
        functions += len(names)
        originals = {function.name: function for function in nd.normalize_module(text)}
        occurrence = 0
        while (changed := nd.change_one_constant(text, occurrence)) is not None:
            occurrence += 1
            for function in nd.normalize_module(changed):
                original = originals[function.name]
                if function.text == original.text or original.trivial:
                    continue
                constants += 1
                best = [match for match in index.function_matches(function) if match.task == task.name]
                assert best and best[0].function == function.name and not best[0].exact, (task.name, occurrence)
                assert best[0].similarity >= nd.THRESHOLD, (task.name, occurrence, best[0])
    assert functions >= 110 and constants >= 200
    assert time.perf_counter() - started < 30


def test_a_renamed_and_reformatted_copy_is_an_exact_match(index):
    copy = """
    func.func @renamed(%input: i32) -> i32 {
        %two = arith.constant 2 : i32
          %three = arith.constant   3:i32
        %five = arith.constant 5 : i32
      %p = arith.muli %two,%three : i32
      %q = arith.muli %p , %five : i32
      %r = arith.muli %input, %q : i32
      return %r : i32 }
    """
    assert "times_thirty" in MULTIPLY_CHAIN and "%c2_i32" in MULTIPLY_CHAIN
    match = index.match(copy)
    assert match is not None
    assert (match.task, match.function, match.candidate_function) == ("cf_multiply_chain", "times_thirty", "renamed")
    assert match.exact and match.similarity == 1.0 and match.form == nd.GENERIC
    assert match.split == "eval" and match.source.endswith("cf_multiply_chain.mlir")
    assert "exact copy" in str(match)


def test_a_copy_with_one_constant_changed_is_a_near_duplicate(index):
    changed = MULTIPLY_CHAIN.replace("arith.constant 5 : i32", "arith.constant 7 : i32")
    assert changed != MULTIPLY_CHAIN
    match = index.match(changed)
    assert match is not None and match.task == "cf_multiply_chain" and not match.exact
    assert nd.THRESHOLD <= match.similarity < 1.0
    assert "near-duplicate" in str(match)


def test_unrelated_functions_are_not_matched(index):
    for name, text in UNRELATED.items():
        assert len(_function_names(text)) == 1, name
        assert index.match(text) is None, (name, index.match(text))
    # Not even all of them in one module.
    assert index.match("\n".join(UNRELATED.values())) is None


def test_functions_under_min_fuzzy_ops_match_only_when_equal():
    index = nd.EvaluationIndex.from_texts({
        "identity": "func.func @id(%arg0: i32) -> i32 {\n  return %arg0 : i32\n}\n",
        "sum": "func.func @sum(%arg0: i32, %arg1: i32) -> i32 {\n"
               "  %0 = arith.addi %arg0, %arg1 : i32\n  return %0 : i32\n}\n",
    })
    assert all(entry.normalized.trivial for entry in index.functions)
    # Equal after renaming: matched.
    match = index.match("func.func @other(%x: i32) -> i32 { return %x : i32 }")
    assert match is not None and match.task == "identity" and match.exact and match.trivial
    assert index.match("func.func @f(%a: i32, %b: i32) -> i32 {\n %s = arith.addi %a, %b : i32\n"
                       " return %s : i32 }").task == "sum"
    # One token apart: similar 5-gram sets, but not equal, so not matched.
    minus = "func.func @f(%a: i32, %b: i32) -> i32 {\n %s = arith.subi %a, %b : i32\n return %s : i32 }"
    sum_entry = next(entry.normalized for entry in index.functions
                     if entry.task == "sum" and entry.normalized.form == nd.GENERIC)
    assert nd.similarity(index.normalize(minus)[0], sum_entry) >= nd.THRESHOLD
    assert index.match(minus) is None
    assert index.match("func.func @id(%arg0: f32) -> f32 { return %arg0 : f32 }") is None
    # A larger candidate is not fuzzily matched against them either.
    assert index.match(UNRELATED["gcd_step"]) is None


def test_three_operation_functions_are_compared_by_similarity():
    index = nd.EvaluationIndex.from_texts([("times_four", "func.func @f(%arg0: i32) -> i32 {\n"
                                            "  %c4 = arith.constant 4 : i32\n  %0 = arith.muli %arg0, %c4 : i32\n"
                                            "  return %0 : i32\n}\n")])
    five = index.match("func.func @g(%x: i32) -> i32 { %c = arith.constant 5 : i32\n"
                       " %y = arith.muli %x, %c : i32\n return %y : i32 }")
    assert five is not None and not five.exact and not five.trivial and five.similarity >= nd.THRESHOLD
    # An operation and a constant apart (two tokens): distinct.
    assert index.match("func.func @g(%x: i32) -> i32 { %c = arith.constant 5 : i32\n"
                       " %y = arith.shli %x, %c : i32\n return %y : i32 }") is None


def test_normalization_renames_in_order_of_first_appearance_and_leaves_strings_alone():
    text = 'call @callee(%foo, %arg1) {note = "keep %foo @x"} : (i32, i32) -> () ^bb3 %foo @callee'
    assert nd.rename(text) == 'call @s0(%v0, %v1) {note = "keep %foo @x"} : (i32, i32) -> () ^b0 %v0 @s0'
    assert nd.tokens("%v0 = arith.constant dense<1.5e+00> : tensor<2x4xf32>") == [
        "%v0", "=", "arith.constant", "dense", "<", "1.5e+00", ">", ":", "tensor", "<", "2", "x", "4",
        "x", "f32", ">"]
    spaced = nd.normalize_module("func.func @a(%x: i32) -> i32 {\n %y = arith.addi %x,%x : i32\n return %y : i32 }")
    tight = nd.normalize_module("func.func   @b( %q : i32 )->i32{ %0 = arith.addi %q , %q:i32 return %0:i32 }")
    assert spaced[0].text == tight[0].text and spaced[0].form == nd.GENERIC
    assert "@s0" in spaced[0].text and "sym_name" in spaced[0].text


def test_util_funcs_and_nested_modules_are_indexed(index):
    text = (PASSLIB / "eval_tasks_hard" / "inputs" / "iree_ipo_util_func.mlir").read_text()
    assert "util.func private @helper" in text
    nested = "module {\n  module @inner {\n" + text + "\n  }\n}\n"
    found = {match.function for match in index.matches(nested) if match.exact}
    assert found == {"helper", "main"}


def test_text_that_does_not_parse_falls_back_to_the_text_normalization(index):
    # A module that calls an undeclared function does not verify; the caller is kept as text, its
    # callee parses alone, and both are found.
    text = (PASSLIB / "eval_tasks_hard" / "inputs" / "iree_dead_private_functions.mlir").read_text()
    broken = nd.renamed_copy(text).replace("func.func private @renamed_dead_b", "func.func private @renamed_gone")
    forms = {function.name: function.form for function in index.normalize(broken)}
    assert forms["renamed_dead_a"] == nd.TEXT and forms["renamed_gone"] == nd.GENERIC
    found = {(match.function, match.form) for match in index.matches(broken) if match.exact}
    assert ("dead_a", nd.TEXT) in found and ("dead_b", nd.GENERIC) in found
    # Comments and locations are dropped in the text normalization.
    commented = re.sub(r"(: i32)$", r'\1 loc("x.mlir":1:2) // a comment', broken, flags=re.MULTILINE)
    assert commented != broken
    assert ("dead_a", nd.TEXT) in {(m.function, m.form) for m in index.matches(commented) if m.exact}


def test_check_disjoint_reports_records_holding_evaluation_functions(index):
    clean = Candidate("program-0001", "random-program", UNRELATED["popcount_loop"])
    leaked = Candidate("program-0002", "random-program", nd.renamed_copy(MULTIPLY_CHAIN))
    prompt = ("Simplify the function.\n```mlir\n" + nd.change_one_constant(MULTIPLY_CHAIN, 1) + "```\n")
    records = [
        clean,
        leaked,
        {"name": "example-7", "prompt": prompt, "completion": UNRELATED["clamp_select"]},
        {"prompt": "no MLIR here", "completion": '{"passes": ["cse"]}'},
        UNRELATED["tensor_shuffle"],
        MULTIPLY_CHAIN,
    ]
    problems = nd.check_disjoint(records, index)
    assert [(problem.record, problem.field) for problem in problems] == [
        ("program-0002", "module_text"), ("example-7", "prompt"), ("record 5", "")]
    assert all(problem.match.task == "cf_multiply_chain" for problem in problems)
    assert problems[0].match.exact and not problems[1].match.exact
    assert "program-0002 [module_text]: function @renamed_times_thirty is an exact copy" in str(problems[0])
    assert nd.check_disjoint([clean, UNRELATED["gcd_step"]], index) == []


def test_check_disjoint_can_leave_out_exact_copies_of_trivial_functions(index):
    # iree_dead_private_functions' @live is `xori; return`: two operations (visibility does not count).
    live = "func.func @f(%a: i32, %b: i32) -> i32 {\n %0 = arith.xori %a, %b : i32\n return %0 : i32\n}\n"
    problems = nd.check_disjoint([live], index)
    assert len(problems) == 1 and problems[0].match.trivial and problems[0].match.function == "live"
    assert nd.check_disjoint([live], index, include_trivial=False) == []


def test_matching_two_thousand_modules_is_fast(index):
    rng = random.Random(7)
    operations = ["arith.addi", "arith.subi", "arith.muli", "arith.xori", "arith.andi", "arith.ori"]
    modules = []
    for number in range(2000):
        values = ["%a", "%b"]
        lines = [f"func.func @f{number}(%a: i32, %b: i32) -> i32 {{"]
        for step in range(rng.randint(3, 30)):
            if rng.random() < 0.3:
                lines.append(f"  %v{step} = arith.constant {rng.randint(-5, 100)} : i32")
            else:
                lines.append(f"  %v{step} = {rng.choice(operations)} {rng.choice(values)}, {rng.choice(values)} : i32")
            values.append(f"%v{step}")
        modules.append("\n".join(lines + [f"  return {values[-1]} : i32", "}"]) + "\n")
    started = time.perf_counter()
    for module in modules:
        index.match(module)
    assert time.perf_counter() - started < 20  # ~1.5 s measured
