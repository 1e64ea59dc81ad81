"""The committed harder task set (passlib/eval_tasks_hard): well-formed, not yet solved, solvable.

Every input parses and verifies and does not already meet its limit; every reference pipeline uses
allowed passes, verifies and meets the limit; every trap's reference rewrite parses and meets it.
A fast subset (one or two tasks per kind) also runs the reference pipeline's output against the
input with passlib's equivalence check (compiled and run by IREE). Compiling every input with
iree-compile, the full equivalence check and the traps' wrong rewrites are the generator's checks
(generate.py), not repeated here. torch is not needed: the generated files are committed.
"""

from __future__ import annotations

import collections
import json
import pathlib

import pytest

from passlib import equivalence, evaluate, ir, schedule, transform

TASK_SET = pathlib.Path(__file__).resolve().parent.parent / "eval_tasks_hard"
TASKS = evaluate.load_task_set(TASK_SET)
RAW = {entry["name"]: entry for entry in json.loads((TASK_SET / "tasks.json").read_text())["tasks"]}
# The first task of each kind in file order, plus the second trap and iree-input task.
FAST = [name for kind in evaluate.HARD_KINDS
        for name in [t.name for t in TASKS if t.kind == kind][:2 if kind in ("trap", "iree-input") else 1]]


def _names(tasks) -> list[str]:
    return [task.name for task in tasks]


def _parse(path: pathlib.Path):
    return ir.parse_module(path.read_text(encoding="utf-8"), ir.new_context(), str(path))


def _public_functions(module) -> list[str]:
    names = []
    for function in ir.functions(module):
        visibility = function.attributes["sym_visibility"] if "sym_visibility" in function.attributes else None
        if not ir.is_declaration(function) and (visibility is None or str(visibility) == '"public"'):
            names.append(ir.symbol_name(function))
    return names


def test_the_task_set_has_enough_tasks_of_every_kind_and_both_splits():
    kinds = collections.Counter(task.kind for task in TASKS)
    assert 45 <= len(TASKS) <= 60, kinds
    assert kinds["torch-export"] >= 15 and kinds["linalg-export"] >= 15, kinds
    assert kinds["iree-input"] >= 6 and kinds["trap"] >= 8, kinds
    assert all(task.description for task in TASKS)
    assert all(RAW[task.name]["split"] == task.split for task in TASKS)
    for kind in kinds:
        of_kind = [task for task in TASKS if task.kind == kind]
        tune = [task for task in of_kind if task.split == "tune"]
        assert tune and len(tune) < len(of_kind), kind
        assert [t.split == "tune" for t in sorted(of_kind, key=lambda t: t.name)] == [
            index % 3 == 0 for index in range(len(of_kind))], kind
    assert all((task.mode == transform.REWRITE_MODE) == (task.kind == "trap") for task in TASKS)


@pytest.mark.parametrize("task", TASKS, ids=_names(TASKS))
def test_input_verifies_and_the_reference_pipeline_meets_the_limit(task):
    module = _parse(task.input)
    assert ir.verify(module) == []
    ops_before = ir.count_ops(module)
    assert task.improvement.shortfalls(module), f"{task.name}: the input already meets the limits"
    allowed = schedule.allowed_passes()
    assert set(task.reference_pipeline) <= set(allowed)
    result = schedule.apply_pipeline(module, task.reference_pipeline, allowed)
    assert result.module is not None, result.diagnostics
    assert ir.verify(result.module) == []
    assert result.ops_after < ops_before
    assert task.improvement.shortfalls(result.module) == []
    if task.reference is not None:
        reference = _parse(task.reference)
        assert ir.verify(reference) == []
        assert task.improvement.shortfalls(reference) == []
        assert _public_functions(reference) == _public_functions(module)


@pytest.mark.parametrize("name", FAST)
def test_reference_pipeline_output_is_equivalent(name):
    (task,) = [task for task in TASKS if task.name == name]
    module = _parse(task.input)
    result = schedule.apply_pipeline(module, task.reference_pipeline, schedule.allowed_passes())
    assert result.module is not None, result.diagnostics
    checker = equivalence.EquivalenceChecker()
    for function in _public_functions(module):
        verdict = checker.check(module, result.module, function)
        assert verdict.status == equivalence.EQUIVALENT, f"@{function}: {verdict.detail}"
