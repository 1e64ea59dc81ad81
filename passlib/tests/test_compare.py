"""Systems compared on a fast subset of the task set: none is unsafe, the search beats the fixed pipeline,
and the judge does catch an output that computes something else."""

from __future__ import annotations

from passlib import compare, evaluate, validate

SUBSET = ("cf_add_constants", "dc_unused_values", "sched_inline_helpers", "sched_constant_argument",
          "sched_common_subexpressions", "sr_mul_by_four")


def _tasks() -> list[evaluate.EvalTask]:
    tasks = {task.name: task for task in evaluate.load_task_set()}
    return [tasks[name] for name in SUBSET]


def test_no_system_is_unsafe_and_the_search_improves_more_than_canonicalize_cse():
    tasks = _tasks()
    chosen = compare.systems([], None, evaluate.EvaluationOptions(), budgets=(10,))
    outcomes = compare.compare(tasks, chosen, validate.ValidationOptions())
    rows = {row["system"]: row for row in compare.summarize(outcomes, tasks)}
    assert all(row["unsafe"] == 0 for row in rows.values()), rows
    assert rows["identity"]["improved"] == 0
    assert rows["search@10"]["improved"] > rows["canonicalize,cse"]["improved"]
    assert rows["search@10"]["share_of_best"] == 1.0
    table = compare.format_table(list(rows.values()), {name: what for name, (_, what) in chosen.items()})
    assert table.count("\n") == len(rows) + 1


def test_the_judge_marks_an_output_that_computes_something_else_unsafe():
    (task,) = [task for task in _tasks() if task.name == "sr_mul_by_four"]
    text = task.input.read_text()
    wrong = text.replace("arith.muli", "arith.addi")
    assert wrong != text
    outcome = compare.Outcome(task.name, wrong, 0.0)
    compare.Judge(validate.ValidationOptions()).judge(task, text, outcome)
    assert not outcome.safe and "mismatch" in outcome.unsafe_reason
