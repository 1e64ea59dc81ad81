"""Systems side by side on a task set: what each one makes of every task, judged the same way.

    python -m passlib.cli evaluate --compare --tasks passlib/eval_tasks_hard [--model BUNDLE] --report r.json

Systems (SYSTEM_NAMES): `identity` (the input), `canonicalize,cse` (a fixed upstream pipeline), `best-fixed`
(the one pipeline that improves most tasks of the task set's `tune` split, chosen from the pipelines the
search finds there), `search@N` (passlib's search, N pass-manager runs per unit), and with a model,
`schedule` and `rewrite` (the LLM alone, no floor) and `schedule+floor` (the LLM above the search's
floor at the driver's default budget). Every system is scored on the `eval` split only.

Each output is judged independently of the system that made it: it must parse and verify, keep every
public function with its signature, and, where it changed, give the input's results on generated inputs
(passlib.equivalence); an output that fails is `unsafe`. Columns: safe, unsafe, improved (meets the
task's limit), total cost removed (operations), share of the best-known result (cost removed over the
most any system or the task's reference removed, summed over tasks), p50 and max latency per task.
"""

from __future__ import annotations

import dataclasses
import hashlib
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from passlib import backends, equivalence, evaluate, floor, ir, schedule, search, transform, validate

FIXED_PIPELINE = ("canonicalize", "cse")
SEARCH_BUDGETS = (10, 100, 1000)
# The most candidate pipelines best-fixed scores on the tune split.
_BEST_FIXED_MAX_CANDIDATES = 64


@dataclasses.dataclass
class Outcome:
    """One system's output for one task, as judged."""

    task: str
    text: str
    seconds: float
    safe: bool = True
    unsafe_reason: str = ""
    ops_before: int = 0
    ops_after: int = 0
    improved: bool = False


System = Callable[[str], str]


def _pipeline_system(passes: Sequence[str]) -> System:
    allowed = schedule.allowed_passes()

    def run(text: str) -> str:
        module = ir.parse_module(text, ir.new_context())
        result = schedule.apply_pipeline(module, list(passes), allowed)
        return text if result.module is None else ir.print_ir(result.module)

    return run


def _driver_system(options: transform.TransformOptions, backend: backends.Backend | None) -> System:
    def run(text: str) -> str:
        return transform.transform_text(text, backend, options).text

    return run


class Judge:
    """Judges outputs against inputs; each distinct (input, output) pair is executed once."""

    def __init__(self, validation: validate.ValidationOptions) -> None:
        self.validation = validation
        self.checker = equivalence.EquivalenceChecker(validation.equivalence)
        self._verdicts: dict[str, tuple[bool, str]] = {}

    def judge(self, task: evaluate.EvalTask, input_text: str, outcome: Outcome) -> None:
        context = ir.new_context()
        original = ir.parse_module(input_text, context)
        outcome.ops_before = ir.count_ops(original)
        outcome.ops_after = outcome.ops_before
        if outcome.text == input_text:
            return
        key = hashlib.sha256((input_text + "\0" + outcome.text).encode()).hexdigest()
        if key not in self._verdicts:
            try:
                candidate = ir.parse_module(outcome.text, context)
                self._verdicts[key] = floor.check_module(self.checker, self.validation, original, candidate)
            except ir.IrError as error:
                self._verdicts[key] = (False, f"the output does not parse or verify: {error}")
        outcome.safe, outcome.unsafe_reason = self._verdicts[key]
        if outcome.safe:
            module = ir.parse_module(outcome.text, context)
            outcome.ops_after = ir.count_ops(module)
            outcome.improved = not task.improvement.shortfalls(module)


def best_fixed_pipeline(tune: Sequence[evaluate.EvalTask], budget: int = 100) -> tuple[str, ...]:
    """The pipeline, among those the search finds best on the tune tasks, that improves most of them."""
    allowed = schedule.allowed_passes()
    candidates: list[tuple[str, ...]] = [FIXED_PIPELINE]
    for task in tune:
        module = ir.parse_module(task.input.read_text(encoding="utf-8"), ir.new_context())
        result = search.search(module, allowed, search.SearchOptions(budget=budget))
        if result.best.pipeline and result.best.pipeline not in candidates:
            candidates.append(result.best.pipeline)
    candidates = candidates[:_BEST_FIXED_MAX_CANDIDATES]

    def score(pipeline: tuple[str, ...]) -> tuple[int, int, int]:
        improved = removed = 0
        for task in tune:
            module = ir.parse_module(task.input.read_text(encoding="utf-8"), ir.new_context())
            result = schedule.apply_pipeline(module, list(pipeline), allowed)
            if result.module is None:
                continue
            improved += not task.improvement.shortfalls(result.module)
            removed += ir.count_ops(module) - ir.count_ops(result.module)
        return (improved, removed, -len(pipeline))

    return max(candidates, key=lambda pipeline: (score(pipeline), [-ord(c) for c in ",".join(pipeline)]))


def systems(tune: Sequence[evaluate.EvalTask], backend: backends.Backend | None,
            options: evaluate.EvaluationOptions, budgets: Sequence[int] = SEARCH_BUDGETS
            ) -> dict[str, tuple[System, str]]:
    """The systems to compare: name -> (run, what it is)."""
    chosen: dict[str, tuple[System, str]] = {
        "identity": (lambda text: text, "the input"),
        ",".join(FIXED_PIPELINE): (_pipeline_system(FIXED_PIPELINE), "a fixed upstream pipeline"),
    }
    best = best_fixed_pipeline(tune) if tune else FIXED_PIPELINE
    chosen["best-fixed"] = (_pipeline_system(best), f"{','.join(best)} (chosen on {len(tune)} tune tasks)")
    for budget in budgets:
        search_options = dataclasses.replace(options.transform_options(transform.SEARCH_MODE), search_budget=budget)
        chosen[f"search@{budget}"] = (_driver_system(search_options, None),
                                      f"passlib search, {budget} pass-manager runs per unit")
    if backend is not None:
        alone = dataclasses.replace(options, search_budget=0)
        chosen["schedule"] = (_driver_system(alone.transform_options(transform.SCHEDULE_MODE), backend),
                              "the LLM picks a pipeline (no floor)")
        chosen["rewrite"] = (_driver_system(alone.transform_options(transform.REWRITE_MODE), backend),
                             "the LLM rewrites each function (no floor)")
        chosen["schedule+floor"] = (_driver_system(options.transform_options(transform.SCHEDULE_MODE), backend),
                                    f"the LLM above the search floor ({transform.DEFAULT_FLOOR_BUDGET} runs)")
    return chosen


def compare(tasks: Sequence[evaluate.EvalTask], chosen: dict[str, tuple[System, str]],
            validation: validate.ValidationOptions, progress: Callable[[str], None] = lambda line: None
            ) -> dict[str, list[Outcome]]:
    """Runs every system on every task and judges each output."""
    judge = Judge(validation)
    outcomes: dict[str, list[Outcome]] = {}
    for name, (run, _) in chosen.items():
        outcomes[name] = []
        for task in tasks:
            text = task.input.read_text(encoding="utf-8")
            started = time.monotonic()
            try:
                output = run(text)
            except Exception as error:  # a system that fails on a task leaves it unchanged, and says so
                progress(f"{name}: {task.name}: {type(error).__name__}: {error}")
                output = text
            outcome = Outcome(task.name, output, time.monotonic() - started)
            judge.judge(task, text, outcome)
            outcomes[name].append(outcome)
            progress(f"{name}: {task.name}: {'improved' if outcome.improved else 'safe' if outcome.safe else 'UNSAFE'} "
                     f"{outcome.ops_before} -> {outcome.ops_after} ops in {outcome.seconds:.2f} s")
    return outcomes


def summarize(outcomes: dict[str, list[Outcome]], tasks: Sequence[evaluate.EvalTask]) -> list[dict[str, Any]]:
    """One row per system (the columns of the module docstring)."""
    best_removed = {}
    for index, task in enumerate(tasks):
        reference = max(0, outcomes[next(iter(outcomes))][index].ops_before - (task.improvement.max_ops or 10**9))
        achieved = max((o[index].ops_before - o[index].ops_after) for o in outcomes.values())
        best_removed[task.name] = max(reference, achieved)
    rows = []
    for name, results in outcomes.items():
        removed = sum(o.ops_before - o.ops_after for o in results if o.safe)
        best = sum(best_removed.values())
        seconds = [o.seconds for o in results]
        rows.append({
            "system": name,
            "tasks": len(results),
            "safe": sum(o.safe for o in results),
            "unsafe": sum(not o.safe for o in results),
            "unsafe_tasks": {o.task: o.unsafe_reason for o in results if not o.safe},
            "improved": sum(o.improved for o in results),
            "cost_removed": removed,
            "share_of_best": round(removed / best, 4) if best else None,
            "latency_p50_s": round(statistics.median(seconds), 4) if seconds else None,
            "latency_max_s": round(max(seconds), 4) if seconds else None,
        })
    return rows


def format_table(rows: Sequence[dict[str, Any]], descriptions: dict[str, str]) -> str:
    lines = ["| system | what | safe | unsafe | improved | ops removed | share of best | p50 s | max s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        share = "n/a" if row["share_of_best"] is None else f"{row['share_of_best']:.0%}"
        lines.append(f"| {row['system']} | {descriptions[row['system']]} | {row['safe']}/{row['tasks']} | "
                     f"{row['unsafe']} | {row['improved']} | {row['cost_removed']} | {share} | "
                     f"{row['latency_p50_s']:.2f} | {row['latency_max_s']:.2f} |")
    return "\n".join(lines)
