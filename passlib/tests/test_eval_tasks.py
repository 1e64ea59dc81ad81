"""The committed evaluation task set (passlib/eval_tasks): well-formed, compilable and solvable.

Every input parses, verifies and compiles with iree-compile, and is not already an improvement;
every known-good answer meets the task's limits (rewrites also run with the same results as the
input, as IREE compiles them; pipelines run through the real pass manager).
"""

from __future__ import annotations

import collections
import json
import subprocess

import pytest
from iree.compiler.tools import binaries

from passlib import equivalence, evaluate, ir, schedule, transform, validate

TASKS = evaluate.load_task_set()
REWRITES = [task for task in TASKS if task.mode == transform.REWRITE_MODE]
SCHEDULES = [task for task in TASKS if task.mode == transform.SCHEDULE_MODE]


def _names(tasks: list[evaluate.EvalTask]) -> list[str]:
    return [task.name for task in tasks]


def _function_name(task: evaluate.EvalTask, module) -> str:
    if task.functions:
        (name,) = task.functions
        return name
    (function,) = [f for f in ir.functions(module) if not ir.is_declaration(f)]
    return ir.symbol_name(function)


def test_the_task_set_has_30_tasks_or_more_of_every_kind():
    kinds = collections.Counter(task.kind for task in TASKS)
    assert len(TASKS) >= 30
    assert set(kinds) == set(evaluate.KINDS)
    assert min(kinds.values()) >= 5, kinds
    assert all(task.description for task in TASKS)


@pytest.mark.parametrize("task", TASKS, ids=_names(TASKS))
def test_input_parses_verifies_compiles_and_leaves_room_to_improve(task, tmp_path):
    module = ir.parse_module(task.input.read_text(encoding="utf-8"), ir.new_context(), str(task.input))
    assert ir.verify(module) == []
    assert task.improvement.shortfalls(module), f"{task.name}: the input already meets the limits"
    vmfb = tmp_path / f"{task.name}.vmfb"
    completed = subprocess.run(
        [binaries.find_tool("iree-compile"), str(task.input), *equivalence.EquivalenceOptions().compile_flags,
         "-o", str(vmfb)],
        capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    assert vmfb.stat().st_size > 0


@pytest.mark.parametrize("task", REWRITES, ids=_names(REWRITES))
def test_reference_rewrite_is_equivalent_and_meets_the_limits(task):
    module = ir.parse_module(task.input.read_text(encoding="utf-8"), ir.new_context(), str(task.input))
    verdict = validate.Validator().validate_rewrite(
        module, _function_name(task, module), task.reference.read_text(encoding="utf-8"))
    assert verdict.accepted, verdict.diagnostic
    assert verdict.checks[validate.EQUIVALENCE] == equivalence.EQUIVALENT, verdict.equivalence_detail
    assert task.improvement.shortfalls(verdict.module) == []


@pytest.mark.parametrize("task", SCHEDULES, ids=_names(SCHEDULES))
def test_reference_pipeline_meets_the_limits(task):
    module = ir.parse_module(task.input.read_text(encoding="utf-8"), ir.new_context(), str(task.input))
    allowed = schedule.allowed_passes()
    assert set(task.reference_pipeline) <= set(allowed)
    result = schedule.apply_pipeline(module, task.reference_pipeline, allowed)
    assert result.module is not None, result.diagnostics
    assert result.ops_after < ir.count_ops(module)
    assert task.improvement.shortfalls(result.module) == []


def test_malformed_task_sets_are_refused_naming_the_file_and_task(tmp_path):
    with pytest.raises(evaluate.TaskSetError, match="tasks.json does not exist"):
        evaluate.load_task_set(tmp_path)
    (tmp_path / "in.mlir").write_text("func.func @f() {\n  return\n}\n")
    tasks_file = tmp_path / "tasks.json"

    def write(task: dict) -> None:
        tasks_file.write_text(json.dumps({"format": 1, "tasks": [task]}))

    good = {"name": "t", "kind": "dead-code", "mode": "schedule", "input": "in.mlir",
            "reference_pipeline": ["canonicalize"], "improvement": {"max_ops": 1}}
    write(good)
    (task,) = evaluate.load_task_set(tmp_path)
    assert task.input == tmp_path / "in.mlir" and task.improvement.max_ops == 1
    write({**good, "kind": "vectorize"})
    with pytest.raises(evaluate.TaskSetError, match=r"tasks.json: task 't': 'kind' must be one of"):
        evaluate.load_task_set(tmp_path)
    write({**good, "input": "missing.mlir"})
    with pytest.raises(evaluate.TaskSetError, match="missing.mlir does not exist"):
        evaluate.load_task_set(tmp_path)
    write({**good, "improvement": {"fewer": True}})
    with pytest.raises(evaluate.TaskSetError, match="'improvement' must be an object"):
        evaluate.load_task_set(tmp_path)
    write({**good, "mode": "rewrite", "task": "simplify"})
    with pytest.raises(evaluate.TaskSetError, match="needs 'reference'"):
        evaluate.load_task_set(tmp_path)
    tasks_file.write_text(json.dumps({"format": 1, "tasks": [good, good]}))
    with pytest.raises(evaluate.TaskSetError, match="repeated: t"):
        evaluate.load_task_set(tmp_path)
