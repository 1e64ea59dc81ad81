"""Evaluation of passlib with a model: run the driver over a task set and measure what comes back.

    python -m passlib.cli evaluate --backend iree --model BUNDLE_DIR --report eval.json [--limit N]

A task set is a directory with `tasks.json` (see `passlib/eval_tasks/`): each task names an input
MLIR file, a kind (constant-folding, strength-reduction, dead-code, loop-rewrite, pass-scheduling),
the driver mode (rewrite with a task such as "simplify", or schedule) and what counts as an
improvement (`max_ops`: at most this many operations in the output module; `max_op_counts`: at
most this many of each named operation). A task is improved when the driver accepted a change
(parsed, verified, same signature, same results when run, or for schedule mode a pipeline that
verifies and shrinks the module) and the output meets every limit. Each task also has a known-good
answer (`reference` MLIR or `reference_pipeline`) that the task set's tests check against the limits.

Rates are over the model's answers (attempts that got one): parsed (rewrite: the MLIR parsed;
schedule: allowed pass names could be read), verified, and equivalence (runs that gave the same
results, out of the runs made); then per task: accepted and improved. Latency is per task (the whole
driver, validation included) and per model call.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

from passlib import backends, cache, cli_options, equivalence, ir, prompts, report, transform, validate

TASK_SET_FORMAT = 1
EVALUATION_REPORT_FORMAT = 1
DEFAULT_TASK_SET = pathlib.Path(__file__).parent / "eval_tasks"
TASKS_FILE = "tasks.json"
KINDS = ("constant-folding", "strength-reduction", "dead-code", "loop-rewrite", "pass-scheduling")
# The kinds of the harder task set (passlib/eval_tasks_hard), accepted by load_task_set as well.
HARD_KINDS = ("torch-export", "linalg-export", "iree-input", "trap")
SPLITS = ("tune", "eval")
# What became of a task: the driver's change met the limits, or was accepted without meeting them;
# no change was accepted (the model's answers were rejected), or the model could not be reached.
IMPROVED = "improved"
ACCEPTED = "accepted"
NOT_ACCEPTED = "not_accepted"
BACKEND_ERROR = "backend_error"
INPUT_ERROR = "input_error"
_IMPROVEMENT_KEYS = ("max_ops", "max_op_counts")


class TaskSetError(ValueError):
    """A task set that cannot be used; the message names the file, the task and the fix."""


@dataclasses.dataclass(frozen=True)
class Improvement:
    """What an output must meet to count as an improvement."""

    max_ops: int | None = None
    max_op_counts: Mapping[str, int] = dataclasses.field(default_factory=dict)

    def shortfalls(self, module: Any) -> list[str]:
        """Why `module` (an MLIR module operation) falls short; empty when it meets every limit."""
        problems = []
        count = ir.count_ops(module)
        if self.max_ops is not None and count > self.max_ops:
            problems.append(f"{count} operations, the limit is {self.max_ops}")
        histogram = ir.op_histogram(module)
        for name, limit in sorted(self.max_op_counts.items()):
            if histogram.get(name, 0) > limit:
                problems.append(f"{histogram[name]} x {name}, the limit is {limit}")
        return problems

    def to_json(self) -> dict[str, Any]:
        """As in tasks.json."""
        data: dict[str, Any] = {}
        if self.max_ops is not None:
            data["max_ops"] = self.max_ops
        if self.max_op_counts:
            data["max_op_counts"] = dict(self.max_op_counts)
        return data


@dataclasses.dataclass(frozen=True)
class EvalTask:
    """One task of a task set, with its paths resolved."""

    name: str
    kind: str
    mode: str
    task: str | None
    description: str
    input: pathlib.Path
    improvement: Improvement
    functions: tuple[str, ...] = ()
    reference: pathlib.Path | None = None
    reference_pipeline: tuple[str, ...] = ()
    split: str = "eval"


def _improvement(data: Any, where: str) -> Improvement:
    if not isinstance(data, dict) or not data or set(data) - set(_IMPROVEMENT_KEYS):
        raise TaskSetError(f"{where}: 'improvement' must be an object with {' and/or '.join(_IMPROVEMENT_KEYS)}")
    max_ops = data.get("max_ops")
    counts = data.get("max_op_counts", {})
    if max_ops is not None and (not isinstance(max_ops, int) or max_ops < 0):
        raise TaskSetError(f"{where}: 'max_ops' must be a non-negative integer")
    if not isinstance(counts, dict) or not all(isinstance(v, int) and v >= 0 for v in counts.values()):
        raise TaskSetError(f"{where}: 'max_op_counts' must map operation names to non-negative integers")
    return Improvement(max_ops, dict(counts))


def _task(directory: pathlib.Path, data: Any, index: int, tasks_file: pathlib.Path) -> EvalTask:
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise TaskSetError(f"{tasks_file}: task {index} must be an object with a 'name'")
    where = f"{tasks_file}: task {data['name']!r}"
    kind, mode, task_name = data.get("kind"), data.get("mode"), data.get("task")
    if kind not in KINDS + HARD_KINDS:
        raise TaskSetError(f"{where}: 'kind' must be one of {', '.join(KINDS + HARD_KINDS)}, got {kind!r}")
    split = data.get("split", "eval")
    if split not in SPLITS:
        raise TaskSetError(f"{where}: 'split' must be one of {', '.join(SPLITS)}, got {split!r}")
    if mode not in transform.MODES:
        raise TaskSetError(f"{where}: 'mode' must be one of {', '.join(transform.MODES)}, got {mode!r}")
    if mode == transform.REWRITE_MODE:
        if task_name not in prompts.available_tasks():
            raise TaskSetError(f"{where}: 'task' must be one of {', '.join(prompts.available_tasks())}")
        if not isinstance(data.get("reference"), str):
            raise TaskSetError(f"{where}: a rewrite task needs 'reference', the path of a known-good answer")
    elif not (isinstance(data.get("reference_pipeline"), list) and data["reference_pipeline"]):
        raise TaskSetError(f"{where}: a schedule task needs 'reference_pipeline', a list of pass names")
    paths = {}
    for field in ("input", "reference"):
        if field not in data:
            continue
        path = directory / str(data[field])
        if not path.is_file():
            raise TaskSetError(f"{where}: {field} file {path} does not exist")
        paths[field] = path
    if "input" not in paths:
        raise TaskSetError(f"{where}: 'input' (an MLIR file) is required")
    functions = data.get("functions", [])
    if not isinstance(functions, list) or not all(isinstance(name, str) for name in functions):
        raise TaskSetError(f"{where}: 'functions' must be a list of function names")
    return EvalTask(
        name=data["name"],
        kind=kind,
        mode=mode,
        task=task_name if mode == transform.REWRITE_MODE else None,
        description=str(data.get("description", "")),
        input=paths["input"],
        improvement=_improvement(data.get("improvement"), where),
        functions=tuple(functions),
        reference=paths.get("reference"),
        reference_pipeline=tuple(data.get("reference_pipeline", ())),
        split=split,
    )


def load_task_set(directory: pathlib.Path = DEFAULT_TASK_SET) -> list[EvalTask]:
    """The tasks of a task set directory, in file order; TaskSetError for a malformed one."""
    tasks_file = pathlib.Path(directory) / TASKS_FILE
    try:
        document = json.loads(tasks_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskSetError(f"{tasks_file} does not exist; pass --tasks a directory holding {TASKS_FILE}") from None
    except json.JSONDecodeError as error:
        raise TaskSetError(f"{tasks_file} is not valid JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") != TASK_SET_FORMAT:
        raise TaskSetError(f"{tasks_file}: expected {{\"format\": {TASK_SET_FORMAT}, \"tasks\": [...]}}")
    entries = document.get("tasks")
    if not isinstance(entries, list) or not entries:
        raise TaskSetError(f"{tasks_file}: 'tasks' must be a non-empty list")
    tasks = [_task(tasks_file.parent, entry, index, tasks_file) for index, entry in enumerate(entries)]
    names = [task.name for task in tasks]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise TaskSetError(f"{tasks_file}: task names must be unique; repeated: {', '.join(duplicates)}")
    return tasks


# --- running --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EvaluationOptions:
    """How hard the driver tries on each task."""

    max_attempts: int = 3
    context_tokens: int = 4096
    decoding: backends.DecodingOptions = dataclasses.field(default_factory=backends.DecodingOptions)
    check_equivalence: bool = True
    # The search floor's budget in the LLM modes (None: the driver's default; 0: the LLM alone).
    search_budget: int | None = None
    # LLM answers per attempt (sampled; the best valid one counts); 1 is greedy.
    best_of: int = 1

    def __post_init__(self) -> None:
        self.transform_options(transform.SCHEDULE_MODE)  # the driver's own checks of the limits

    def transform_options(self, mode: str, task: str | None = None,
                          functions: tuple[str, ...] = ()) -> transform.TransformOptions:
        """The driver's options for one task."""
        return transform.TransformOptions(
            mode=mode,
            task=task or "simplify",
            max_attempts=self.max_attempts,
            context_tokens=self.context_tokens,
            decoding=self.decoding,
            validation=validate.ValidationOptions(check_equivalence=self.check_equivalence),
            functions=functions,
            search_budget=self.search_budget,
            best_of=self.best_of,
        )


@dataclasses.dataclass
class TaskResult:
    """What the driver did with one task."""

    task: EvalTask
    status: str
    shortfalls: list[str]
    duration_s: float
    run_report: report.RunReport | None = None
    error: str | None = None

    @property
    def improved(self) -> bool:
        """Whether the driver's change meets the task's limits."""
        return self.status == IMPROVED

    @property
    def accepted(self) -> bool:
        """Whether the driver accepted a change (improvement or not)."""
        return self.status in (IMPROVED, ACCEPTED)

    def to_json(self) -> dict[str, Any]:
        """As in the evaluation report."""
        return {
            "name": self.task.name,
            "kind": self.task.kind,
            "mode": self.task.mode,
            "task": self.task.task,
            "status": self.status,
            "improved": self.improved,
            "shortfalls": self.shortfalls,
            "improvement": self.task.improvement.to_json(),
            "duration_s": round(self.duration_s, 6),
            "error": self.error,
            "run": self.run_report.to_json() if self.run_report is not None else None,
        }


def run_task(task: EvalTask, backend: backends.Backend, options: EvaluationOptions,
             response_cache: cache.ResponseCache | None = None) -> TaskResult:
    """Runs the driver on one task and judges the output."""
    transform_options = options.transform_options(task.mode, task.task, task.functions)
    text = task.input.read_text(encoding="utf-8")
    started = time.monotonic()
    try:
        result = transform.transform_text(text, backend, transform_options, response_cache, str(task.input))
    except transform.InputError as error:
        return TaskResult(task, INPUT_ERROR, [], time.monotonic() - started, error=str(error))
    duration = time.monotonic() - started
    shortfalls = task.improvement.shortfalls(ir.parse_module(result.text, ir.new_context(), task.name))
    if result.changed:
        status = ACCEPTED if shortfalls else IMPROVED
    elif any(unit.status == report.BACKEND_ERROR for unit in result.report.units):
        status = BACKEND_ERROR
    else:
        status = NOT_ACCEPTED
    return TaskResult(task, status, shortfalls, duration, result.report)


def _attempts(results: Sequence[TaskResult]) -> list[tuple[str, report.Attempt]]:
    return [(result.task.mode, attempt)
            for result in results if result.run_report is not None
            for unit in result.run_report.units for attempt in unit.attempts]


def _ratio(count: int, total: int) -> dict[str, Any]:
    return {"count": count, "total": total, "rate": round(count / total, 4) if total else None}


def _spread(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "max": None}
    return {"mean": round(statistics.fmean(values), 4), "p50": round(statistics.median(values), 4),
            "max": round(max(values), 4)}


def summarize(results: Sequence[TaskResult], wall_s: float) -> dict[str, Any]:
    """The rates and latencies over all tasks."""
    answered = [(mode, a) for mode, a in _attempts(results) if a.outcome != report.BACKEND_ERROR]
    parsed = [(mode, a) for mode, a in answered
              if (a.checks.get(validate.PARSE) == validate.OK if mode == transform.REWRITE_MODE
                  else bool(a.pipeline))]
    verified = [a for _, a in answered if a.checks.get(validate.VERIFY) == validate.OK]
    ran = [a for _, a in answered if a.checks.get(validate.EQUIVALENCE) not in (None, equivalence.SKIPPED)]
    equivalent = [a for a in ran if a.checks[validate.EQUIVALENCE] == equivalence.EQUIVALENT]
    by_kind: dict[str, dict[str, Any]] = {}
    for kind in KINDS + HARD_KINDS:
        of_kind = [r for r in results if r.task.kind == kind]
        if of_kind:
            by_kind[kind] = {"tasks": len(of_kind), "accepted": sum(r.accepted for r in of_kind),
                             "improved": sum(r.improved for r in of_kind)}
    return {
        "tasks": len(results),
        "attempts": len(_attempts(results)),
        "answers": len(answered),
        "backend_errors": len(_attempts(results)) - len(answered),
        "parsed": _ratio(len(parsed), len(answered)),
        "verified": _ratio(len(verified), len(answered)),
        "equivalent": _ratio(len(equivalent), len(ran)),
        "accepted": _ratio(sum(r.accepted for r in results), len(results)),
        "improved": _ratio(sum(r.improved for r in results), len(results)),
        "task_latency_s": _spread([r.duration_s for r in results]),
        "llm_latency_s": _spread([a.latency_s for _, a in answered if a.latency_s is not None]),
        "completion_tokens": sum(a.completion_tokens or 0 for _, a in answered),
        "by_kind": by_kind,
        "wall_s": round(wall_s, 3),
    }


def _percent(ratio: Mapping[str, Any], unit: str) -> str:
    rate = "n/a" if ratio["rate"] is None else f"{100 * ratio['rate']:.1f}%"
    return f"{ratio['count']}/{ratio['total']} {unit} ({rate})"


def _seconds(spread: Mapping[str, float | None]) -> str:
    if spread["mean"] is None:
        return "n/a"
    return f"mean {spread['mean']:.2f} s, p50 {spread['p50']:.2f} s, max {spread['max']:.2f} s"


def format_summary(summary: Mapping[str, Any]) -> str:
    """The summary as the lines the command prints."""
    lines = [
        f"tasks: {summary['tasks']}; model answers: {summary['answers']} of {summary['attempts']} "
        f"attempts ({summary['backend_errors']} backend errors)",
        f"parse:        {_percent(summary['parsed'], 'answers')}",
        f"verify:       {_percent(summary['verified'], 'answers')}",
        f"equivalence:  {_percent(summary['equivalent'], 'runs')}",
        f"accepted:     {_percent(summary['accepted'], 'tasks')}",
        f"improved:     {_percent(summary['improved'], 'tasks')}",
        f"task latency: {_seconds(summary['task_latency_s'])}",
        f"LLM latency:  {_seconds(summary['llm_latency_s'])} per answer",
    ]
    kinds = ", ".join(f"{kind} {counts['improved']}/{counts['tasks']}"
                      for kind, counts in summary["by_kind"].items())
    lines.append(f"improved by kind: {kinds}")
    lines.append(f"wall time: {summary['wall_s']:.1f} s")
    return "\n".join(lines)


def write_json_atomically(path: pathlib.Path, data: Any) -> None:
    """Writes indented JSON through a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


DESCRIPTION = ("Run passlib over an MLIR task set with a model and report parse, verify, equivalence and "
               "improvement rates and latency; or, with --compare, put systems side by side.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m passlib.cli evaluate` besides the shared ones (passlib/cli_options.py)."""
    parser.add_argument("--tasks", type=pathlib.Path, default=DEFAULT_TASK_SET,
                        help="task set directory holding tasks.json (default: passlib/eval_tasks)")
    parser.add_argument("--report", type=pathlib.Path, required=True, help="JSON report to write")
    parser.add_argument("--limit", type=int, help="evaluate only the first N tasks")
    parser.add_argument("--kind", action="append", choices=KINDS + HARD_KINDS, default=[], dest="kinds",
                        help="evaluate only tasks of this kind (repeatable)")
    parser.add_argument("--compare", action="store_true",
                        help="compare systems side by side on the eval split (passlib/compare.py): identity, "
                             "canonicalize,cse, the best fixed pipeline of the tune split, the search at budgets "
                             "10/100/1000 and, for each --model given, the LLM modes")
    parser.add_argument("--systems", metavar="PATTERNS",
                        help="with --compare, run only these systems: comma-separated names or patterns with * "
                             "and ? (brackets are literal), e.g. 'search@1000,schedule*,rewrite*' (default: all)")


def run(arguments: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Runs `evaluate`; returns the exit status (0 when it ran, 2 for bad arguments or task sets)."""
    if arguments.limit is not None and arguments.limit < 1:
        parser.error("--limit must be at least 1")
    try:
        tasks = load_task_set(arguments.tasks)
        options = EvaluationOptions(
            max_attempts=arguments.max_attempts,
            context_tokens=arguments.context_tokens,
            decoding=cli_options.decoding_options(arguments),
            check_equivalence=not arguments.no_equivalence,
            search_budget=arguments.search_budget,
            best_of=arguments.best_of,
        )
        models = cli_options.model_names(arguments)
        if arguments.compare:
            backends_by_name = _compare_backends(arguments, models)
            selected = _selected_systems(arguments, list(backends_by_name))
        else:
            if len(models) > 1:
                raise ValueError(f"--model was given {len(models)} times; only evaluate --compare runs several "
                                 "models side by side")
            if arguments.systems is not None:
                raise ValueError("--systems selects systems of evaluate --compare; add --compare")
            backend = cli_options.create_backend(arguments)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if arguments.kinds:
        tasks = [task for task in tasks if task.kind in arguments.kinds]
    if arguments.compare:
        return _compare_main(arguments, tasks, backends_by_name, options, selected)
    tasks = tasks[: arguments.limit] if arguments.limit is not None else tasks
    response_cache = cache.ResponseCache(arguments.cache) if arguments.cache is not None else None
    started = time.monotonic()
    results = []
    for index, task in enumerate(tasks, 1):
        result = run_task(task, backend, options, response_cache)
        results.append(result)
        detail = f" ({'; '.join(result.shortfalls)})" if result.status == ACCEPTED else ""
        print(f"[{index}/{len(tasks)}] {task.name} ({task.kind}): {result.status}{detail} "
              f"in {result.duration_s:.1f} s", flush=True)
    summary = summarize(results, time.monotonic() - started)
    write_json_atomically(arguments.report, {
        "format": EVALUATION_REPORT_FORMAT,
        "task_set": str(arguments.tasks),
        "backend": _describe(backend),
        "options": {
            "max_attempts": options.max_attempts,
            "best_of": options.best_of,
            "context_tokens": options.context_tokens,
            "decoding": options.decoding.key(),
            "check_equivalence": options.check_equivalence,
        },
        "summary": summary,
        "tasks": [result.to_json() for result in results],
    })
    print(format_summary(summary))
    print(f"report: {arguments.report}")
    return 0


def _describe(backend: backends.Backend) -> dict[str, Any]:
    try:
        return backend.describe()
    except backends.BackendError as error:
        return {"kind": backend.kind, "identity": None, "error": str(error)}


def _compare_backends(arguments: argparse.Namespace, models: Sequence[str]) -> dict[str, backends.Backend]:
    """`evaluate --compare`'s backends, one per --model, by the model's short name (none without --model)."""
    backends_by_name: dict[str, backends.Backend] = {}
    for model in models:
        name = cli_options.model_label(arguments, model)
        if name in backends_by_name:
            raise ValueError(f"two --model values are named {name!r}; the LLM systems of each model are named "
                             "after it (SYSTEM[NAME]), so give models with different names")
        backends_by_name[name] = cli_options.create_backend(arguments, model)
    return backends_by_name


def _selected_systems(arguments: argparse.Namespace, models: Sequence[str]) -> list[str] | None:
    """The systems --systems selects (ValueError for patterns that match none); None for all."""
    from passlib import compare

    if arguments.systems is None:
        return None
    return compare.select_systems(arguments.systems, compare.system_names(models))


def _compare_main(arguments: argparse.Namespace, tasks: list[EvalTask],
                  backends_by_name: Mapping[str, backends.Backend], options: EvaluationOptions,
                  selected: Sequence[str] | None = None) -> int:
    """`evaluate --compare`: every system (or the `selected` ones) on the eval split, one table."""
    from passlib import compare

    tune = [task for task in tasks if task.split == "tune"]
    scored = [task for task in tasks if task.split != "tune"]
    scored = scored[: arguments.limit] if arguments.limit is not None else scored
    chosen = compare.systems(tune, backends_by_name, options, only=selected)
    validation = validate.ValidationOptions(check_equivalence=options.check_equivalence)
    outcomes = compare.compare(scored, chosen, validation, progress=lambda line: print(line, flush=True))
    rows = compare.summarize(outcomes, scored)
    descriptions = {name: what for name, (_, what) in chosen.items()}
    described = {name: _describe(backend) for name, backend in backends_by_name.items()}
    write_json_atomically(arguments.report, {
        "format": EVALUATION_REPORT_FORMAT,
        "task_set": str(arguments.tasks),
        "tune_tasks": len(tune),
        "eval_tasks": len(scored),
        # The one model's backend (None without a model or with several); every model's, by name.
        "backend": next(iter(described.values())) if len(described) == 1 else None,
        "backends": described,
        "systems": descriptions,
        "rows": rows,
    })
    print(compare.format_table(rows, descriptions))
    answers = compare.format_answer_table(rows)
    if answers:
        print()
        print(answers)
    print(f"report: {arguments.report}")
    return 0

