"""The passlib driver: a verified search as the floor, LLM-assisted rewrites measured above it.

Search mode (no model): passlib.floor searches pipelines of allowed passes for each function and then
for the module, keeping a result only when it verifies, passes the execution check and lowers the
cost. Rewrite mode, per function: the floor's result for the function is computed first (budget
`search_budget`, DEFAULT_FLOOR_BUDGET by default); then prompt -> backend (through the cache) ->
extract -> validate, best-of-N answers per attempt, a rejected answer's diagnostic fed into the next
prompt. Schedule mode: the floor of the whole module first; the LLM picks pipelines from the
allow-list, the pass manager runs them, and a result must verify and pass the execution check. In
both LLM modes the LLM's candidate is kept only when it is strictly cheaper than the floor; the
report names the winner of each unit (input, search, llm) with the cost of each. Whatever goes wrong
(no model, a timeout, wrong answers), a unit keeps the floor's result or the input, and the report
says why; with `strict`, a unit that neither the floor nor the LLM improved is an error instead.
`PASSLIB_DISABLE=1` in the environment turns everything off: the output is the input, no model loads.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable

from iree.compiler import ir as mlir

from passlib import backends, cache, equivalence, extract, floor, ir, prompts, report, schedule, search, search_cache, search_worker, unit_prompts, validate

REWRITE_MODE = "rewrite"
SCHEDULE_MODE = "schedule"
SEARCH_MODE = "search"
MODES = (REWRITE_MODE, SCHEDULE_MODE, SEARCH_MODE)
# Pass-manager runs the search may spend per unit: in search mode, and as the floor that rewrite and
# schedule answers must beat.
DEFAULT_SEARCH_BUDGET = 200
DEFAULT_FLOOR_BUDGET = 40
# Environment variable that turns passlib off: the output is the input, no model is loaded.
DISABLE_VARIABLE = "PASSLIB_DISABLE"
# Sampling temperature of best-of-N answers when none is given.
BEST_OF_TEMPERATURE = 0.7
# Backend failures after which no further call to it can succeed in this run.
_FATAL_BACKEND_ERRORS = ("unreachable", "model")


@dataclasses.dataclass(frozen=True)
class TransformOptions:
    """What to ask for and how hard to try."""

    mode: str = REWRITE_MODE
    task: str = "simplify"
    max_attempts: int = 3
    context_tokens: int = 4096
    decoding: backends.DecodingOptions = dataclasses.field(default_factory=backends.DecodingOptions)
    validation: validate.ValidationOptions = dataclasses.field(default_factory=validate.ValidationOptions)
    functions: tuple[str, ...] = ()
    allowed_passes: tuple[str, ...] | None = None
    strict: bool = False
    # The search (passlib.search): pass-manager runs per unit (None: DEFAULT_SEARCH_BUDGET in search
    # mode, DEFAULT_FLOOR_BUDGET as the floor of the LLM modes; 0 turns the floor off) and the cost
    # it minimizes (a name of passlib.search.COSTS).
    search_budget: int | None = None
    cost: str = "ops"
    # LLM answers per attempt: best_of > 1 samples that many seeded answers and keeps the best valid one.
    best_of: int = 1
    # Ask the LLM but change nothing: prompts and raw answers go into the report.
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.search_budget is not None and self.search_budget < 0:
            raise ValueError(f"search_budget must be >= 0, got {self.search_budget}")
        if self.best_of < 1:
            raise ValueError(f"best_of must be at least 1, got {self.best_of}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.context_tokens <= self.decoding.max_new_tokens:
            raise ValueError(
                f"context_tokens ({self.context_tokens}) must exceed max_new_tokens "
                f"({self.decoding.max_new_tokens}): the prompt needs room too"
            )
        if self.mode == REWRITE_MODE:
            prompts.task_instructions(self.task)
        search.cost_named(self.cost)

    @property
    def effective_search_budget(self) -> int:
        """Pass-manager runs per unit: the option, or the mode's default."""
        if self.search_budget is not None:
            return self.search_budget
        return DEFAULT_SEARCH_BUDGET if self.mode == SEARCH_MODE else DEFAULT_FLOOR_BUDGET

    def sample_decoding(self, sample: int) -> backends.DecodingOptions:
        """Decoding options of the `sample`-th answer of an attempt: greedy for a single answer, else
        seeded sampling (temperature BEST_OF_TEMPERATURE unless one was set), seed + sample."""
        if self.best_of == 1:
            return self.decoding
        temperature = self.decoding.temperature or BEST_OF_TEMPERATURE
        seed = (self.decoding.seed or 0) + sample
        return dataclasses.replace(self.decoding, temperature=temperature, seed=seed)


class InputError(ValueError):
    """The input MLIR itself is invalid (the fault is upstream, not the LLM's)."""


class TransformError(RuntimeError):
    """Strict mode and some unit could not be transformed; `report` says why."""

    def __init__(self, message: str, run_report: report.RunReport) -> None:
        self.report = run_report
        super().__init__(message)


@dataclasses.dataclass
class TransformResult:
    """The output text and the report."""

    text: str
    report: report.RunReport
    changed: bool


class _Session:
    """State shared by the units of one run: the backend's health and the cache."""

    def __init__(self, backend: backends.Backend, response_cache: cache.ResponseCache | None) -> None:
        self.backend = backend
        self.cache = response_cache
        self.backend_down: str | None = None

    def prompt_budget(self, options: TransformOptions) -> int:
        """Tokens left for the prompt: the context (the model's own limit if smaller) minus the answer."""
        return unit_prompts.prompt_budget(options.context_tokens, self.backend.context_limit(),
                                          options.decoding.max_new_tokens)

    def ask(self, build_prompt: Callable[[], prompts.Prompt], options: backends.DecodingOptions,
            attempt: report.Attempt) -> backends.Completion | None:
        """Builds the prompt and gets an answer, recording cost in `attempt`; None on failure."""
        if self.backend_down is not None:
            attempt.outcome, attempt.stage = report.BACKEND_ERROR, "backend"
            attempt.diagnostic = self.backend_down
            return None
        try:
            prompt = build_prompt()
            attempt.prompt_examples = prompt.examples_included
            started = time.monotonic()
            completion, attempt.cache = cache.complete(self.backend, self.cache, prompt, options)
        except backends.BackendError as error:
            attempt.outcome, attempt.stage = report.BACKEND_ERROR, "backend"
            attempt.diagnostic = str(error)
            if error.kind in _FATAL_BACKEND_ERRORS:
                self.backend_down = f"backend unavailable: {error}"
            return None
        attempt.latency_s = round(time.monotonic() - started, 6)
        attempt.prompt_tokens = completion.prompt_tokens
        attempt.completion_tokens = completion.completion_tokens
        attempt.finish_reason = completion.finish_reason
        return completion


def _backend_describe(backend: backends.Backend) -> dict:
    try:
        return backend.describe()
    except backends.BackendError as error:
        return {"kind": backend.kind, "identity": None, "error": str(error)}


def _candidate_cost(cost: search.Cost, module: mlir.Operation, name: str | None) -> float | None:
    """The cost of `@name`'s unit in `module` (of the whole module when name is None); None if unmeasurable."""
    try:
        return cost.measure(module if name is None else ir.extract_unit(module, name, callee_bodies=False))
    except search.CostError:
        return None


def _measured(value: float) -> float | None:
    """A floor outcome's cost, None where it could not be measured (NaN)."""
    return None if value != value else value


def _decide(unit_report: report.UnitReport, working: mlir.Operation, floor_module: mlir.Operation,
            llm_module: mlir.Operation | None, costs: dict[str, float | None]) -> mlir.Operation:
    """Sets the unit's winner (the cheapest of input, search, llm; the floor on a tie) and returns its module."""
    unit_report.costs = {key: value for key, value in costs.items() if value is not None}
    floor_cost = costs.get(floor.SEARCH)
    input_cost = costs[floor.INPUT]
    floor_improved = floor_cost is not None and input_cost is not None and floor_cost < input_cost
    bar = floor_cost if floor_improved else input_cost
    llm_cost = costs.get(floor.LLM)
    if llm_module is not None and llm_cost is not None and bar is not None and llm_cost < bar:
        unit_report.winner = floor.LLM
        unit_report.status = report.ACCEPTED
        return llm_module
    if llm_module is not None:
        unit_report.reason = (f"the LLM's valid candidate costs {llm_cost:g}, not below the "
                              f"{'search' if floor_improved else 'input'}'s {bar:g}; " + (unit_report.reason or ""))
        unit_report.status = report.ACCEPTED if floor_improved else report.UNCHANGED
    if floor_improved:
        unit_report.winner = floor.SEARCH
        unit_report.status = report.ACCEPTED
        return floor_module
    unit_report.winner = floor.INPUT
    return working


def _dry_run_unit(session: _Session, unit_report: report.UnitReport, build_prompt: Callable[[], prompts.Prompt],
                  decoding: backends.DecodingOptions) -> None:
    """Asks once and records the prompt and the raw answer; changes nothing."""
    attempt = report.Attempt(0, report.UNCHANGED)
    unit_report.attempts.append(attempt)
    try:
        prompt = build_prompt()
    except prompts.PromptTooLarge as error:
        unit_report.status, unit_report.reason = report.SKIPPED, str(error)
        return
    attempt.prompt_text = prompt.system + "\n\n" + prompt.user
    completion = session.ask(lambda: prompt, decoding, attempt)
    attempt.answer_text = None if completion is None else completion.text
    unit_report.status = report.UNCHANGED if completion is not None else report.BACKEND_ERROR
    unit_report.reason = "dry run: the prompt and the answer are recorded, nothing is changed"
    unit_report.winner = floor.INPUT


def _rewrite_function(session: _Session, validator: validate.Validator, floor_: floor.Floor | None,
                      working: mlir.Operation, name: str, options: TransformOptions
                      ) -> tuple[report.UnitReport, mlir.Operation]:
    """The floor of `@name`, then LLM rewrites of it; returns its report and the module to continue with."""
    function = ir.find_function(working, name)
    unit_report = report.UnitReport(name, report.REJECTED, ops_before=ir.count_ops(function), cost=options.cost)
    unit_report.ops_after = unit_report.ops_before
    function_text = ir.print_ir(function)
    cost = search.cost_named(options.cost)
    floor_module = working
    if floor_ is not None:
        outcome, floor_module = floor_.improve_function(working, name)
        unit_report.search_pipeline, unit_report.search = outcome.pipeline, outcome.search
        costs = {floor.INPUT: _measured(outcome.cost_before), floor.SEARCH: _measured(outcome.cost_after)}
    else:
        costs = {floor.INPUT: _candidate_cost(cost, working, name)}

    def build_prompt(feedback: prompts.Feedback | None = None) -> prompts.Prompt:
        answer_tokens = session.backend.count_tokens(function_text)
        if answer_tokens > options.decoding.max_new_tokens:
            raise prompts.PromptTooLarge(
                f"@{name} takes {answer_tokens} tokens, more than max_new_tokens "
                f"({options.decoding.max_new_tokens}): the rewrite could not be written out")
        return unit_prompts.rewrite_prompt(
            working, name, task=options.task, count_tokens=session.backend.count_tokens,
            budget_tokens=session.prompt_budget(options), feedback=feedback)

    if options.dry_run:
        _dry_run_unit(session, unit_report, build_prompt, options.decoding)
        return unit_report, working
    best: tuple[float, validate.Validation] | None = None
    feedback: prompts.Feedback | None = None
    for index in range(options.max_attempts):
        first_rejection: prompts.Feedback | None = None
        for sample in range(options.best_of):
            attempt = report.Attempt(index, report.REJECTED, sample=sample if options.best_of > 1 else None)
            unit_report.attempts.append(attempt)
            # The answer is one fenced block: the in-process backend stops at its closing fence.
            decoding = dataclasses.replace(options.sample_decoding(sample), stop_at_closing_fence=True)
            try:
                completion = session.ask(lambda feedback=feedback: build_prompt(feedback), decoding, attempt)
            except prompts.PromptTooLarge as error:
                unit_report.attempts.pop()
                unit_report.status, unit_report.reason = report.SKIPPED, str(error)
                return unit_report, _decide(unit_report, working, floor_module, None, costs)
            if completion is None:
                unit_report.status, unit_report.reason = report.BACKEND_ERROR, attempt.diagnostic
                return unit_report, _decide(unit_report, working, floor_module, None, costs)
            extraction = extract.extract_mlir(completion.text, name)
            attempt.extraction = extraction.method
            if extraction.mlir is None:
                attempt.stage, attempt.diagnostic = "extraction", extraction.problem
                first_rejection = first_rejection or prompts.Feedback("extraction", extraction.problem or "no MLIR found")
                continue
            verdict = validator.validate_rewrite(working, name, extraction.mlir)
            attempt.checks = verdict.checks
            attempt.ops_after = verdict.ops_after
            if verdict.accepted:
                attempt.outcome = report.ACCEPTED
                attempt.cost = _candidate_cost(cost, verdict.module, name)
                if attempt.cost is not None and (best is None or attempt.cost < best[0]):
                    best = (attempt.cost, verdict)
                continue
            if verdict.unchanged:
                attempt.outcome, attempt.diagnostic = report.UNCHANGED, verdict.diagnostic
                continue
            attempt.stage, attempt.diagnostic = verdict.stage, verdict.diagnostic
            first_rejection = first_rejection or prompts.Feedback(
                verdict.stage or "validation", verdict.diagnostic or "", extraction.mlir)
        if best is not None or first_rejection is None:
            break
        feedback = first_rejection
    if best is not None:
        costs[floor.LLM] = best[0]
        unit_report.reason = best[1].equivalence_detail
        module = _decide(unit_report, working, floor_module, best[1].module, costs)
        if unit_report.winner == floor.LLM:
            unit_report.ops_after = best[1].ops_after
        elif unit_report.winner == floor.SEARCH:
            unit_report.ops_after = ir.count_ops(ir.find_function(module, name))
        return unit_report, module
    last = unit_report.attempts[-1]
    if last.outcome == report.UNCHANGED:
        unit_report.status, unit_report.reason = report.UNCHANGED, last.diagnostic
    else:
        unit_report.reason = (f"no acceptable answer in {options.max_attempts} attempt(s); "
                              f"last: {last.stage}: {last.diagnostic}")
    module = _decide(unit_report, working, floor_module, None, costs)
    if unit_report.winner == floor.SEARCH:
        unit_report.ops_after = ir.count_ops(ir.find_function(module, name))
        unit_report.reason = f"search: {','.join(unit_report.search_pipeline or [])}; LLM: {unit_report.reason}"
    return unit_report, module


def _floor_functions(floor_: floor.Floor, working: mlir.Operation, names: list[str], cost_name: str
                     ) -> tuple[list[report.UnitReport], mlir.Operation]:
    """The function phase of the floor over `names`: their reports and the resulting module."""
    units = []
    for name in names:
        outcome, working = floor_.improve_function(working, name)
        units.append(floor.unit_report(outcome, cost_name))
    return units, working


def _schedule_module(session: _Session, floor_: floor.Floor | None, working: mlir.Operation,
                     options: TransformOptions) -> tuple[list[report.UnitReport], mlir.Operation]:
    """The floor of the module, then pipelines the LLM picks, each run, checked and scored."""
    allowed = schedule.allowed_passes(options.allowed_passes)
    cost = search.cost_named(options.cost)
    ops_before = ir.count_ops(working)
    unit_report = report.UnitReport(floor.MODULE_UNIT, report.REJECTED, ops_before=ops_before,
                                    ops_after=ops_before, cost=options.cost)
    units: list[report.UnitReport] = []
    costs: dict[str, float | None] = {floor.INPUT: _candidate_cost(cost, working, None)}
    floor_module = working
    if floor_ is not None:
        names = [ir.symbol_name(f) for f in ir.functions(working) if not ir.is_declaration(f)]
        units, floor_module = _floor_functions(floor_, working, names, options.cost)
        outcome, floor_module = floor_.improve_module(working, floor_module)
        unit_report.search_pipeline, unit_report.search = outcome.pipeline, outcome.search
        costs[floor.SEARCH] = _measured(outcome.cost_after)
    decoding = dataclasses.replace(options.decoding, json_schema=schedule.answer_schema(allowed))

    def build_prompt(feedback: prompts.Feedback | None = None) -> prompts.Prompt:
        return unit_prompts.schedule_prompt(
            working, allowed, count_tokens=session.backend.count_tokens,
            budget_tokens=session.prompt_budget(options), feedback=feedback)

    if options.dry_run:
        _dry_run_unit(session, unit_report, build_prompt, decoding)
        return units + [unit_report], working
    # The floor's checker has run the originals already; it keeps their results.
    checker = floor_.checker if floor_ is not None else equivalence.EquivalenceChecker(options.validation.equivalence)
    best: tuple[float, mlir.Operation, str] | None = None
    feedback: prompts.Feedback | None = None
    for index in range(options.max_attempts):
        first_rejection: prompts.Feedback | None = None
        for sample in range(options.best_of):
            attempt = report.Attempt(index, report.REJECTED, sample=sample if options.best_of > 1 else None)
            unit_report.attempts.append(attempt)
            sample_decoding = dataclasses.replace(options.sample_decoding(sample), json_schema=decoding.json_schema)
            try:
                completion = session.ask(lambda feedback=feedback: build_prompt(feedback), sample_decoding, attempt)
            except prompts.PromptTooLarge as error:
                unit_report.attempts.pop()
                unit_report.status, unit_report.reason = report.SKIPPED, str(error)
                return units + [unit_report], _decide(unit_report, working, floor_module, None, costs)
            if completion is None:
                unit_report.status, unit_report.reason = report.BACKEND_ERROR, attempt.diagnostic
                return units + [unit_report], _decide(unit_report, working, floor_module, None, costs)
            choice = schedule.parse_answer(completion.text, allowed)
            attempt.pipeline = list(choice.passes)
            attempt.rejected_pass_names = list(choice.rejected)
            attempt.extraction = "passes" if choice.passes else "not_found"
            if not choice.passes:
                attempt.stage, attempt.diagnostic = "extraction", "the answer names no allowed pass"
                first_rejection = first_rejection or prompts.Feedback("extraction", attempt.diagnostic, "(none)")
                continue
            result = search_worker.shared().apply_pipeline(working, choice.passes, allowed)
            previous = ", ".join(choice.passes)
            if result.module is None:
                attempt.checks = {"pipeline": validate.FAILED}
                attempt.stage = "pipeline"
                attempt.diagnostic = f"{result.pipeline} failed: " + "; ".join(str(d) for d in result.diagnostics)
                first_rejection = first_rejection or prompts.Feedback("pipeline", attempt.diagnostic, previous)
                continue
            attempt.checks = {"pipeline": validate.OK, "verify": validate.OK}
            attempt.ops_after = result.ops_after
            attempt.cost = _candidate_cost(cost, result.module, None)
            if attempt.cost is None or attempt.cost >= (costs[floor.INPUT] or 0):
                attempt.stage = "cost"
                attempt.diagnostic = (f"it left a {options.cost} cost of {attempt.cost}; the module has "
                                      f"{costs[floor.INPUT]}, so it does not make the module cheaper")
                first_rejection = first_rejection or prompts.Feedback("cost", attempt.diagnostic, previous)
                continue
            ok, detail = floor.check_module(checker, options.validation, working, result.module)
            attempt.checks["equivalence"] = equivalence.EQUIVALENT if ok else validate.FAILED
            if not ok:
                attempt.stage, attempt.diagnostic = "equivalence", detail
                first_rejection = first_rejection or prompts.Feedback("equivalence", detail, previous)
                continue
            attempt.outcome = report.ACCEPTED
            if best is None or attempt.cost < best[0]:
                best = (attempt.cost, result.module, f"{result.pipeline}: {detail}")
        if best is not None or first_rejection is None:
            break
        feedback = first_rejection
    llm_module = None
    if best is not None:
        costs[floor.LLM] = best[0]
        llm_module = best[1]
        unit_report.reason = best[2]
    else:
        last = unit_report.attempts[-1]
        unit_report.reason = (f"no pipeline kept in {options.max_attempts} attempt(s); "
                              f"last: {last.stage}: {last.diagnostic}")
    module = _decide(unit_report, working, floor_module, llm_module, costs)
    unit_report.ops_after = ir.count_ops(module)
    return units + [unit_report], module


def _search_module(floor_: floor.Floor, working: mlir.Operation, names: list[str], whole_module: bool,
                   cost_name: str) -> tuple[list[report.UnitReport], mlir.Operation]:
    """Search mode: the floor's function phase over `names`, then (for the whole module) its module phase."""
    units, module = _floor_functions(floor_, working, names, cost_name)
    if whole_module:
        outcome, module = floor_.improve_module(working, module)
        units.append(floor.unit_report(outcome, cost_name))
    return units, module


def _disabled_result(text: str, source_name: str, options: TransformOptions) -> TransformResult:
    run_report = report.RunReport(input=source_name, mode=options.mode, task=None,
                                  backend={"kind": "disabled", "identity": None}, strict=options.strict)
    run_report.result = "disabled"
    run_report.reason = f"{DISABLE_VARIABLE}={os.environ.get(DISABLE_VARIABLE)} in the environment: passlib is off"
    return TransformResult(text, run_report, False)


def transform_text(text: str, backend: backends.Backend | None, options: TransformOptions,
                   response_cache: cache.ResponseCache | None = None,
                   source_name: str = "<input>",
                   search_results: search_cache.SearchCache | None = None) -> TransformResult:
    """Transforms MLIR text; the text comes back byte-identical when nothing changed.

    `backend` may be None in search mode. Raises InputError when the input itself is invalid, and
    TransformError in strict mode when a unit could not be transformed.
    """
    if os.environ.get(DISABLE_VARIABLE, "") not in ("", "0"):
        return _disabled_result(text, source_name, options)
    if backend is None and options.mode != SEARCH_MODE:
        raise ValueError(f"mode {options.mode!r} needs an LLM backend; mode 'search' needs none")
    started = time.monotonic()
    context = ir.new_context()
    try:
        module = ir.parse_module(text, context, source_name, untrusted=True)
    except ir.IrError as error:
        raise InputError(f"{error}; fix the MLIR that produced {source_name}") from None
    run_report = report.RunReport(
        input=source_name,
        mode=options.mode,
        task=options.task if options.mode == REWRITE_MODE else None,
        backend={"kind": "none", "identity": None} if backend is None else _backend_describe(backend),
        strict=options.strict,
        ops_before=ir.count_ops(module),
    )
    session = _Session(backend, response_cache) if backend is not None else None
    budget = options.effective_search_budget
    floor_ = None
    if budget > 0 and not options.dry_run:
        floor_ = floor.Floor(schedule.allowed_passes(options.allowed_passes),
                             search.SearchOptions(budget=budget, cost=options.cost),
                             options.validation, search_results)
    working = module
    names = [ir.symbol_name(f) for f in ir.functions(module) if not ir.is_declaration(f)]
    missing = [name for name in options.functions if name not in names]
    if missing and options.mode != SCHEDULE_MODE:
        raise InputError(f"{source_name} has no function(s) {', '.join('@' + n for n in missing)} "
                         f"to transform; it defines {', '.join('@' + n for n in names)}")
    if options.mode == SEARCH_MODE:
        if floor_ is None:
            raise ValueError("search mode needs a search budget above 0")
        units, working = _search_module(floor_, working, list(options.functions) or names,
                                        not options.functions, options.cost)
        run_report.units.extend(units)
    elif options.mode == SCHEDULE_MODE:
        units, working = _schedule_module(session, floor_, working, options)
        run_report.units.extend(units)
    else:
        validator = validate.Validator(options.validation)
        for name in options.functions or names:
            unit_report, working = _rewrite_function(session, validator, floor_, working, name, options)
            run_report.units.append(unit_report)

    changed = any(unit.winner in (floor.SEARCH, floor.LLM) for unit in run_report.units)
    output = ir.print_ir(working) if changed else text
    run_report.ops_after = ir.count_ops(working)
    run_report.result = "changed" if changed else report.UNCHANGED
    failures = [u for u in run_report.units if u.status not in (report.ACCEPTED, report.UNCHANGED)]
    if failures:
        run_report.reason = "; ".join(f"{unit.name}: {unit.status}: {unit.reason}" for unit in failures)
    run_report.duration_s = round(time.monotonic() - started, 6)
    if options.strict and failures:
        run_report.result = "error"
        raise TransformError(f"strict mode: {run_report.reason}", run_report)
    return TransformResult(output, run_report, changed)
