"""Systems side by side on a task set: what each one makes of every task, judged the same way.

    python -m passlib.cli evaluate --compare --tasks passlib/eval_tasks_hard [--model BUNDLE ...] \
        [--systems PATTERNS] --report r.json

Systems (system_names): `identity` (the input), `canonicalize,cse` (a fixed upstream pipeline),
`best-fixed` (the one pipeline that improves most tasks of the task set's `tune` split, chosen from the
pipelines the search finds there), `search@N` (passlib's search, N pass-manager runs per unit), and per
model, `schedule` and `rewrite` (the LLM alone, no floor) and `schedule+floor` (the LLM above the search's
floor at the driver's default budget). With two or more models each model's LLM systems carry its name:
`schedule[NAME]`, `rewrite[NAME]`, `schedule+floor[NAME]`. `--systems` runs only some of them
(select_systems). Every system is scored on the `eval` split only.

Each output is judged independently of the system that made it: it must parse and verify, keep every
public function with its signature, and, where it changed, give the input's results on generated inputs
(passlib.equivalence); an output that fails is `unsafe`. Columns: safe, unsafe, improved (meets the
task's limit), total cost removed (operations), share of the best-known result (cost removed over the
most any system or the task's reference removed, summed over tasks), share of the search's result
(cost removed over what search@1000 removed, when it ran), pass-manager runs spent (the search's runs
per unit as the driver's report records them, one per LLM pipeline applied, one per task for a fixed
pipeline), p50 and max latency per task. For the LLM systems, the answers over all tasks' attempts
(answer_statistics): parsed, verified, units with an accepted answer, units the LLM won.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import statistics
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from passlib import backends, equivalence, evaluate, floor, ir, report, schedule, search, transform, validate

FIXED_PIPELINE = ("canonicalize", "cse")
SEARCH_BUDGETS = (10, 100, 1000)
# The search whose result share_of_search measures against.
SEARCH_REFERENCE = f"search@{max(SEARCH_BUDGETS)}"
# The LLM systems of one model: (name, mode, with the floor, what it is).
LLM_SYSTEMS = (
    ("schedule", transform.SCHEDULE_MODE, False, "the LLM picks a pipeline (no floor)"),
    ("rewrite", transform.REWRITE_MODE, False, "the LLM rewrites each function (no floor)"),
    ("schedule+floor", transform.SCHEDULE_MODE, True,
     f"the LLM above the search floor ({transform.DEFAULT_FLOOR_BUDGET} runs)"),
)
# The most candidate pipelines best-fixed scores on the tune split.
_BEST_FIXED_MAX_CANDIDATES = 64


@dataclasses.dataclass
class Output:
    """What a system made of one input: the text, the pass-manager runs it spent and, for the driver,
    its report (which the judge does not look at)."""

    text: str
    pm_runs: int = 0
    run_report: report.RunReport | None = None


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
    pm_runs: int = 0
    run_report: report.RunReport | None = None
    error: str = ""


# A system: input text -> its output (an Output, or the text alone for a system that runs no pass manager).
System = Callable[[str], "Output | str"]


def _pipeline_system(passes: Sequence[str]) -> System:
    allowed = schedule.allowed_passes()

    def run(text: str) -> Output:
        module = ir.parse_module(text, ir.new_context())
        result = schedule.apply_pipeline(module, list(passes), allowed)
        return Output(text if result.module is None else ir.print_ir(result.module), pm_runs=1)

    return run


def pass_manager_runs(run_report: report.RunReport) -> int:
    """Pass-manager runs a driver run spent: the search's runs in each unit (a unit replayed from the
    search cache, or whose cost could not be measured, records none) and one per LLM pipeline applied."""
    runs = 0
    for unit in run_report.units:
        runs += int((unit.search or {}).get("runs", 0))
        runs += sum(1 for attempt in unit.attempts if attempt.pipeline)
    return runs


def _driver_system(options: transform.TransformOptions, backend: backends.Backend | None) -> System:
    def run(text: str) -> Output:
        result = transform.transform_text(text, backend, options)
        return Output(result.text, pass_manager_runs(result.report), result.report)

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


def _llm_name(name: str, model: str | None) -> str:
    return name if model is None else f"{name}[{model}]"


def system_names(models: Sequence[str] = (), budgets: Sequence[int] = SEARCH_BUDGETS) -> list[str]:
    """Every system's name, in the order they run; `models` names the models (their LLM systems carry the
    name when there are two or more)."""
    names = ["identity", ",".join(FIXED_PIPELINE), "best-fixed", *(f"search@{budget}" for budget in budgets)]
    for model in models:
        names += [_llm_name(name, model if len(models) > 1 else None) for name, *_ in LLM_SYSTEMS]
    return names


def _pattern_matches(pattern: str, name: str) -> bool:
    """fnmatch with `*` and `?` as the only wildcards: brackets are literal, as in `schedule[smollm2_cpu]`."""
    if pattern == name:
        return True
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name) is not None


def select_systems(spec: str, names: Sequence[str]) -> list[str]:
    """The systems a comma-separated list of names and patterns (`*`, `?`) selects, in `names`' order.

    A name with a comma in it (`canonicalize,cse`) is taken whole. ValueError names every pattern that
    matches no system, and lists the systems.
    """
    tokens = [token.strip() for token in spec.split(",")]
    patterns: list[str] = []
    index = 0
    while index < len(tokens):
        for end in range(len(tokens), index + 1, -1):  # the longest run of tokens that names a system
            if ",".join(tokens[index:end]) in names:
                patterns.append(",".join(tokens[index:end]))
                index = end
                break
        else:
            if tokens[index]:
                patterns.append(tokens[index])
            index += 1
    if not patterns:
        raise ValueError(f"--systems names no system; the systems are: {', '.join(names)}")
    unknown = [p for p in patterns if not any(_pattern_matches(p, name) for name in names)]
    if unknown:
        raise ValueError(f"--systems: {', '.join(repr(p) for p in unknown)} "
                         f"match{'es' if len(unknown) == 1 else ''} no system; the systems are: {', '.join(names)}")
    return [name for name in names if any(_pattern_matches(p, name) for p in patterns)]


def systems(tune: Sequence[evaluate.EvalTask],
            backend: backends.Backend | Mapping[str, backends.Backend] | None,
            options: evaluate.EvaluationOptions, budgets: Sequence[int] = SEARCH_BUDGETS,
            only: Collection[str] | None = None) -> dict[str, tuple[System, str]]:
    """The systems to compare: name -> (run, what it is).

    `backend` is one model's backend, or model name -> backend for several (their LLM systems are then
    named `schedule[NAME]` and so on); `only`, the names to keep (best-fixed is computed only if kept).
    """
    models = dict(backend) if isinstance(backend, Mapping) else {} if backend is None else {"model": backend}
    makers: dict[str, Callable[[], tuple[System, str]]] = {
        "identity": lambda: (lambda text: text, "the input"),
        ",".join(FIXED_PIPELINE): lambda: (_pipeline_system(FIXED_PIPELINE), "a fixed upstream pipeline"),
    }

    def best_fixed() -> tuple[System, str]:
        best = best_fixed_pipeline(tune) if tune else FIXED_PIPELINE
        return _pipeline_system(best), f"{','.join(best)} (chosen on {len(tune)} tune tasks)"

    makers["best-fixed"] = best_fixed
    for budget in budgets:
        search_options = dataclasses.replace(options.transform_options(transform.SEARCH_MODE), search_budget=budget)
        makers[f"search@{budget}"] = lambda search_options=search_options, budget=budget: (
            _driver_system(search_options, None), f"passlib search, {budget} pass-manager runs per unit")
    alone = dataclasses.replace(options, search_budget=0)
    for model, model_backend in models.items():
        for name, mode, with_floor, what in LLM_SYSTEMS:
            driver_options = (options if with_floor else alone).transform_options(mode)
            if options.best_of > 1:
                what = f"{what}, best of {options.best_of} sampled answers per attempt"
            makers[_llm_name(name, model if len(models) > 1 else None)] = (
                lambda driver_options=driver_options, model_backend=model_backend, what=what:
                (_driver_system(driver_options, model_backend), what))
    if only is not None:
        unknown = sorted(set(only) - set(makers))
        if unknown:
            raise ValueError(f"unknown system(s) {', '.join(unknown)}; the systems are: {', '.join(makers)}")
    return {name: make() for name, make in makers.items() if only is None or name in only}


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
            error = ""
            try:
                output = run(text)
            except Exception as failure:  # a system that fails on a task leaves it unchanged, and says so
                error = f"{type(failure).__name__}: {failure}"
                progress(f"{name}: {task.name}: {error}")
                output = text
            if isinstance(output, str):
                output = Output(output)
            outcome = Outcome(task.name, output.text, time.monotonic() - started, pm_runs=output.pm_runs,
                              run_report=output.run_report, error=error)
            judge.judge(task, text, outcome)
            outcomes[name].append(outcome)
            progress(f"{name}: {task.name}: {'improved' if outcome.improved else 'safe' if outcome.safe else 'UNSAFE'} "
                     f"{outcome.ops_before} -> {outcome.ops_after} ops in {outcome.seconds:.2f} s, "
                     f"{outcome.pm_runs} pass-manager runs")
    return outcomes


def answer_statistics(run_reports: Sequence[report.RunReport]) -> dict[str, Any]:
    """The LLM's answers over all the runs' attempts, as evaluate's summary counts them: parsed (rewrite:
    the MLIR parsed; schedule: allowed pass names could be read) and verified, out of the answers; units
    with an accepted answer (one that passed every check the driver makes) and units the LLM won, out of
    the units tried (units with an attempt; a unit too large to ask about is skipped, not tried)."""
    attempts = [(run.mode, attempt) for run in run_reports for unit in run.units for attempt in unit.attempts]
    answered = [(mode, a) for mode, a in attempts if a.outcome != report.BACKEND_ERROR]
    parsed = [a for mode, a in answered
              if (a.checks.get(validate.PARSE) == validate.OK if mode == transform.REWRITE_MODE else bool(a.pipeline))]
    verified = [a for _, a in answered if a.checks.get(validate.VERIFY) == validate.OK]
    tried = [unit for run in run_reports for unit in run.units if unit.attempts]
    return {
        "attempts": len(attempts),
        "answers": len(answered),
        "backend_errors": len(attempts) - len(answered),
        "units_tried": len(tried),
        "units_skipped": sum(unit.status == report.SKIPPED for run in run_reports for unit in run.units),
        "parsed": evaluate._ratio(len(parsed), len(answered)),
        "verified": evaluate._ratio(len(verified), len(answered)),
        "accepted": evaluate._ratio(
            sum(any(a.outcome == report.ACCEPTED for a in unit.attempts) for unit in tried), len(tried)),
        "llm_won": evaluate._ratio(sum(unit.winner == floor.LLM for unit in tried), len(tried)),
        "llm_latency_s": evaluate._spread([a.latency_s for _, a in answered if a.latency_s is not None]),
        "completion_tokens": sum(a.completion_tokens or 0 for _, a in answered),
    }


def summarize(outcomes: dict[str, list[Outcome]], tasks: Sequence[evaluate.EvalTask]) -> list[dict[str, Any]]:
    """One row per system (the columns of the module docstring)."""
    best_removed = {}
    for index, task in enumerate(tasks):
        reference = max(0, outcomes[next(iter(outcomes))][index].ops_before - (task.improvement.max_ops or 10**9))
        achieved = max((o[index].ops_before - o[index].ops_after) for o in outcomes.values())
        best_removed[task.name] = max(reference, achieved)

    def removed(results: Sequence[Outcome]) -> int:
        return sum(o.ops_before - o.ops_after for o in results if o.safe)

    search_removed = removed(outcomes[SEARCH_REFERENCE]) if SEARCH_REFERENCE in outcomes else 0
    rows = []
    for name, results in outcomes.items():
        cost_removed = removed(results)
        best = sum(best_removed.values())
        seconds = [o.seconds for o in results]
        llm_runs = [o.run_report for o in results
                    if o.run_report is not None and o.run_report.mode != transform.SEARCH_MODE]
        rows.append({
            "system": name,
            "tasks": len(results),
            "safe": sum(o.safe for o in results),
            "unsafe": sum(not o.safe for o in results),
            "unsafe_tasks": {o.task: o.unsafe_reason for o in results if not o.safe},
            "improved": sum(o.improved for o in results),
            "cost_removed": cost_removed,
            "share_of_best": round(cost_removed / best, 4) if best else None,
            "share_of_search": round(cost_removed / search_removed, 4) if search_removed else None,
            "pm_runs": sum(o.pm_runs for o in results),
            "errors": {o.task: o.error for o in results if o.error},
            "latency_p50_s": round(statistics.median(seconds), 4) if seconds else None,
            "latency_max_s": round(max(seconds), 4) if seconds else None,
            "llm": answer_statistics(llm_runs) if llm_runs else None,
        })
    return rows


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def format_table(rows: Sequence[dict[str, Any]], descriptions: dict[str, str]) -> str:
    """The rows as a markdown table (the LLM answers are format_answer_table's)."""
    lines = [f"| system | what | safe | unsafe | improved | ops removed | share of best | share of {SEARCH_REFERENCE} "
             "| pm runs | p50 s | max s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['system']} | {descriptions[row['system']]} | {row['safe']}/{row['tasks']} | "
                     f"{row['unsafe']} | {row['improved']} | {row['cost_removed']} | {_share(row['share_of_best'])} | "
                     f"{_share(row['share_of_search'])} | {row['pm_runs']} | "
                     f"{row['latency_p50_s']:.2f} | {row['latency_max_s']:.2f} |")
    return "\n".join(lines)


def _ratio_cell(ratio: Mapping[str, Any]) -> str:
    return f"{ratio['count']}/{ratio['total']}" + ("" if ratio["rate"] is None else f" ({ratio['rate']:.0%})")


def format_answer_table(rows: Sequence[dict[str, Any]]) -> str:
    """The LLM systems' answers as a markdown table; empty when no LLM system ran."""
    llm_rows = [row for row in rows if row.get("llm")]
    if not llm_rows:
        return ""
    lines = ["| system | units tried | answers | parsed | verified | units accepted | LLM won | LLM p50 s |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in llm_rows:
        answers = row["llm"]
        latency = answers["llm_latency_s"]["p50"]
        lines.append(f"| {row['system']} | {answers['units_tried']} | {answers['answers']} | "
                     f"{_ratio_cell(answers['parsed'])} | {_ratio_cell(answers['verified'])} | "
                     f"{_ratio_cell(answers['accepted'])} | {_ratio_cell(answers['llm_won'])} | "
                     f"{'n/a' if latency is None else f'{latency:.2f}'} |")
    return "\n".join(lines)
