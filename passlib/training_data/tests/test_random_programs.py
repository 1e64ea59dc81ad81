"""Tests of passlib.training_data.random_programs: determinism, validity, runnability, real redundancy.

Parsing, the op limit, the input ports and the pass pipelines are checked on 20-40 programs; a few
are compiled with iree-compile and run by passlib's execution check against their canonicalized
rewrite (the slow part: about 1.5 s per program).
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import re
import subprocess
import sys

import pytest

from passlib import equivalence, ir, schedule
from passlib.training_data import random_programs
from passlib.training_data.candidate import Candidate

SEED = 20240611
PROGRAMS = random_programs.generate(SEED, 40)
SMALL_PROGRAMS = random_programs.generate_small(SEED, 60)
PASSLIB = pathlib.Path(random_programs.__file__).resolve().parent.parent
EVAL_INPUTS = sorted((PASSLIB / "eval_tasks" / "inputs").glob("*.mlir")) + sorted(
    (PASSLIB / "eval_tasks_hard" / "inputs").glob("*.mlir"))
_ELEMENT = r"(i8|i16|i32|i64|f32)"
ALLOWED_TYPE = re.compile(rf"^({_ELEMENT}|tensor<(\d+x)+{_ELEMENT}>)$")
# Passes that each remove one kind of the injected redundancy; the second round catches what the
# first exposes (inlining, then folding, then cse; hoisting, then cse).
ALL_PASSES = ["inline", "canonicalize", "cse", "loop-invariant-code-motion", "iree-util-optimize-int-arithmetic",
              "linalg-fuse-elementwise-ops", "canonicalize", "cse", "symbol-dce"]


@pytest.fixture(scope="module")
def context():
    return ir.new_context()


@pytest.fixture(scope="module")
def modules(context):
    return {program.name: ir.parse_module(program.module_text, context, program.name) for program in PROGRAMS}


def _is_public(function) -> bool:
    attributes = function.attributes
    return "sym_visibility" not in attributes or str(attributes["sym_visibility"]) == '"public"'


def _public_names(module) -> list[str]:
    return [ir.symbol_name(f) for f in ir.functions(module) if _is_public(f)]


def test_same_seed_same_programs_and_longer_runs_extend_shorter_ones():
    first = random_programs.generate(SEED, 12)
    assert first == random_programs.generate(SEED, 12)
    assert random_programs.generate(SEED, 5) == first[:5]
    assert first == PROGRAMS[:12]
    assert [c.name for c in first] == [f"program-{i:04d}" for i in range(12)]
    assert all(isinstance(c, Candidate) and c.kind == random_programs.KIND == "random-program" for c in first)
    assert len({c.module_text for c in first}) == len(first)
    assert random_programs.generate(SEED + 1, 3)[0].module_text != first[0].module_text
    assert random_programs.generate(SEED, 0) == []


def test_small_programs_have_their_own_deterministic_stream():
    first = random_programs.generate_small(SEED, 12)
    assert first == random_programs.generate_small(SEED, 12) == SMALL_PROGRAMS[:12]
    assert random_programs.generate_small(SEED, 5) == first[:5]
    assert [c.name for c in first] == [f"small-{i:04d}" for i in range(12)]
    assert all(c.kind == random_programs.SMALL_KIND == "small-program" for c in first)
    assert len({c.module_text for c in first}) == len(first)
    # A stream of their own: the large programs of the same seed hold none of them.
    assert not {c.module_text for c in first} & {c.module_text for c in PROGRAMS}
    assert random_programs.generate_small(SEED + 1, 3)[0].module_text != first[0].module_text


def test_small_programs_are_one_small_public_function_and_mostly_redundant(context):
    entry_ops, fewer = [], 0
    for program in SMALL_PROGRAMS:
        module = ir.parse_module(program.module_text, context, program.name)
        assert not ir.verify(module), program.name
        public = [f for f in ir.functions(module) if _is_public(f)]
        assert len(public) == 1, program.name
        entry_ops.append(ir.count_ops(public[0]))
        full = schedule.apply_pipeline(module, ALL_PASSES, schedule.ALLOWED_PASSES)
        assert full.module is not None, (program.name, full.diagnostics)
        fewer += full.ops_after < ir.count_ops(module)
    entry_ops.sort()
    # The size of the simple evaluation tasks (4 to 14 operations), far below the large programs'.
    assert entry_ops[len(entry_ops) // 2] <= 14, entry_ops
    assert fewer >= 0.6 * len(SMALL_PROGRAMS), fewer


def _digest(candidates) -> str:
    return hashlib.sha256("".join(c.name + c.module_text for c in candidates).encode()).hexdigest()


def test_another_process_with_another_hash_seed_makes_the_same_programs():
    code = ("import hashlib; from passlib.training_data import random_programs as r; "
            f"texts = ''.join(c.name + c.module_text for c in r.generate({SEED}, 40)); "
            "print(hashlib.sha256(texts.encode()).hexdigest())")
    environment = dict(os.environ, PYTHONHASHSEED="12345", PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environment,
                               timeout=120, check=True)
    assert completed.stdout.strip() == _digest(PROGRAMS)


def test_programs_parse_verify_and_stay_within_the_op_limit(modules):
    for name, module in modules.items():
        assert not ir.verify(module), name
        functions = ir.functions(module)
        assert functions and _public_names(module), name
        for function in functions:
            assert not ir.is_declaration(function), name
            assert ir.count_ops(function) <= random_programs.MAX_OPS, (name, ir.symbol_name(function))


def test_functions_take_and_return_only_integers_f32_and_static_tensors(modules):
    for name, module in modules.items():
        for function in ir.functions(module):
            signature = ir.signature(function)
            assert signature.results, (name, signature)
            for type_text in signature.inputs + signature.results:
                assert ALLOWED_TYPE.match(type_text), (name, str(signature))


def test_the_execution_check_can_make_inputs_for_every_function(modules):
    options = equivalence.EquivalenceOptions()
    for name, module in modules.items():
        for function in ir.functions(module):
            symbol = ir.symbol_name(function)
            unit = ir.extract_unit(module, symbol, callee_bodies=True)
            _, arguments, results = equivalence.add_probe(unit, symbol)
            assert results, (name, symbol)
            inputs = equivalence.make_inputs(arguments, options)
            assert len(inputs) == options.trials * len(arguments), (name, symbol)


def test_the_programs_mix_the_requested_kinds_of_operations():
    text = "".join(program.module_text for program in PROGRAMS)
    for op in ("scf.for", "scf.if", "iter_args", "linalg.generic", "linalg.matmul", "linalg.fill", "tensor.empty",
               "tensor.extract_slice", "tensor.insert_slice", "tensor.collapse_shape", "tensor.expand_shape",
               "math.tanh", "math.exp", "arith.constant dense<", "func.func private", "call @", "arith.select"):
        assert op in text, op


def test_most_programs_lose_operations_to_the_allowed_passes(modules):
    names = [program.name for program in PROGRAMS[:20]]
    fewer_canonicalize_cse = fewer_all = 0
    for name in names:
        module = modules[name]
        before = ir.count_ops(module)
        simple = schedule.apply_pipeline(module, ["canonicalize", "cse"], schedule.ALLOWED_PASSES)
        full = schedule.apply_pipeline(module, ALL_PASSES, schedule.ALLOWED_PASSES)
        assert simple.module is not None and full.module is not None, (name, simple.diagnostics, full.diagnostics)
        fewer_canonicalize_cse += simple.ops_after < before
        fewer_all += full.ops_after < before
    assert fewer_canonicalize_cse >= 0.6 * len(names), fewer_canonicalize_cse
    assert fewer_all >= 0.75 * len(names), fewer_all


def _eval_functions(context) -> set[str]:
    bodies = set()
    for path in EVAL_INPUTS:
        try:
            module = ir.parse_module(path.read_text(encoding="utf-8"), context, str(path))
        except ir.IrError:
            continue
        bodies.update(_body_text(f) for f in ir.functions(module) if not ir.is_declaration(f))
    return bodies


def _body_text(function) -> str:
    """A function's generic text without its symbol name (so renamed copies still match)."""
    return re.sub(r'sym_name = "[^"]*"', "", ir.print_ir(function.operation, generic=True))


def test_no_function_is_copied_from_the_evaluation_sets(context, modules):
    assert EVAL_INPUTS
    evaluation = _eval_functions(context)
    assert evaluation
    for name, module in modules.items():
        for function in ir.functions(module):
            assert _body_text(function) not in evaluation, (name, ir.symbol_name(function))
    for program in SMALL_PROGRAMS:
        module = ir.parse_module(program.module_text, context, program.name)  # kept alive while printed
        for function in ir.functions(module):
            assert _body_text(function) not in evaluation, (program.name, ir.symbol_name(function))


def _varied_sample(count: int) -> list[Candidate]:
    """`count` programs that together hold as many kinds of operations as a greedy pick finds."""
    features = ("scf.for", "scf.if", "linalg.matmul", "call @", "tensor.insert_slice", "tensor.extract ",
                "tensor.expand_shape", "linalg.transpose", "\"reduction\"", "arith.fptosi")
    chosen: list[Candidate] = []
    covered: set[str] = set()
    for _ in range(count):
        rest = [p for p in PROGRAMS if p not in chosen]
        best = max(rest, key=lambda p: len({f for f in features if f in p.module_text} - covered))
        chosen.append(best)
        covered |= {f for f in features if f in best.module_text}
    return chosen


def test_a_varied_sample_compiles_runs_and_matches_its_simplified_rewrite(context):
    checker = equivalence.EquivalenceChecker(equivalence.EquivalenceOptions(run_timeout_s=20))
    for program in _varied_sample(6):
        module = ir.parse_module(program.module_text, context, program.name)
        rewritten = schedule.apply_pipeline(module, ALL_PASSES, schedule.ALLOWED_PASSES).module
        assert rewritten is not None, program.name
        for name in _public_names(module):
            result = checker.check(ir.extract_unit(module, name, callee_bodies=True),
                                   ir.extract_unit(rewritten, name, callee_bodies=True), name)
            assert result.status == equivalence.EQUIVALENT, (program.name, name, result.detail)
