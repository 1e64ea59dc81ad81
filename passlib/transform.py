"""The passlib driver: LLM-assisted rewrites of MLIR, never trusted and never fatal unless strict.

Rewrite mode, per function: prompt -> backend (through the cache) -> extract -> validate; a rejected
answer's diagnostic goes back into the next prompt, for a bounded number of attempts. Schedule mode:
the LLM picks a pipeline from the allow-list, the pass manager runs it, and the result is kept only if
it verifies and has fewer operations. Whatever goes wrong (no model, a timeout, wrong answers), the
function or module stays as it was and the report says why; with `strict`, that is an error instead.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from iree.compiler import ir as mlir

from passlib import backends, cache, extract, ir, prompts, report, schedule, validate

REWRITE_MODE = "rewrite"
SCHEDULE_MODE = "schedule"
MODES = (REWRITE_MODE, SCHEDULE_MODE)
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

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}: choose one of {', '.join(MODES)}")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.context_tokens <= self.decoding.max_new_tokens:
            raise ValueError(
                f"context_tokens ({self.context_tokens}) must exceed max_new_tokens "
                f"({self.decoding.max_new_tokens}): the prompt needs room too"
            )
        if self.mode == REWRITE_MODE:
            prompts.task_instructions(self.task)


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
        context = options.context_tokens
        limit = self.backend.context_limit()
        if limit is not None:
            context = min(context, limit)
        return context - options.decoding.max_new_tokens

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


def _rewrite_function(session: _Session, validator: validate.Validator, working: mlir.Operation,
                      name: str, options: TransformOptions) -> tuple[report.UnitReport, mlir.Operation]:
    """Tries to rewrite `@name`; returns its report and the module to continue with."""
    function = ir.find_function(working, name)
    unit_report = report.UnitReport(name, report.REJECTED, ops_before=ir.count_ops(function))
    unit_report.ops_after = unit_report.ops_before
    unit_text = ir.print_body(ir.extract_unit(working, name, callee_bodies=False))
    function_text = ir.print_ir(function)
    feedback: prompts.Feedback | None = None
    for index in range(options.max_attempts):
        attempt = report.Attempt(index, report.REJECTED)
        unit_report.attempts.append(attempt)

        def build_prompt(feedback=feedback) -> prompts.Prompt:
            budget = session.prompt_budget(options)
            answer_tokens = session.backend.count_tokens(function_text)
            if answer_tokens > options.decoding.max_new_tokens:
                raise prompts.PromptTooLarge(
                    f"@{name} takes {answer_tokens} tokens, more than max_new_tokens "
                    f"({options.decoding.max_new_tokens}): the rewrite could not be written out")
            return prompts.build_rewrite_prompt(
                task=options.task, function_name=name, unit_text=unit_text,
                count_tokens=session.backend.count_tokens, budget_tokens=budget, feedback=feedback)

        try:
            completion = session.ask(build_prompt, options.decoding, attempt)
        except prompts.PromptTooLarge as error:
            unit_report.attempts.pop()
            unit_report.status, unit_report.reason = report.SKIPPED, str(error)
            return unit_report, working
        if completion is None:
            unit_report.status, unit_report.reason = report.BACKEND_ERROR, attempt.diagnostic
            return unit_report, working
        extraction = extract.extract_mlir(completion.text, name)
        attempt.extraction = extraction.method
        if extraction.mlir is None:
            attempt.stage, attempt.diagnostic = "extraction", extraction.problem
            feedback = prompts.Feedback("extraction", extraction.problem or "no MLIR found")
            continue
        verdict = validator.validate_rewrite(working, name, extraction.mlir)
        attempt.checks = verdict.checks
        attempt.ops_after = verdict.ops_after
        if verdict.accepted:
            attempt.outcome = report.ACCEPTED
            unit_report.status, unit_report.reason = report.ACCEPTED, verdict.equivalence_detail
            unit_report.ops_after = verdict.ops_after
            return unit_report, verdict.module
        if verdict.unchanged:
            attempt.outcome = report.UNCHANGED
            unit_report.status, unit_report.reason = report.UNCHANGED, verdict.diagnostic
            return unit_report, working
        attempt.stage, attempt.diagnostic = verdict.stage, verdict.diagnostic
        feedback = prompts.Feedback(verdict.stage or "validation", verdict.diagnostic or "", extraction.mlir)
    last = unit_report.attempts[-1]
    unit_report.reason = (f"no acceptable answer in {options.max_attempts} attempt(s); "
                          f"last: {last.stage}: {last.diagnostic}")
    return unit_report, working


def _schedule_module(session: _Session, working: mlir.Operation, options: TransformOptions
                     ) -> tuple[report.UnitReport, mlir.Operation]:
    """Asks for a pipeline, runs it, keeps it only if it verifies and lowers the op count."""
    allowed = schedule.allowed_passes(options.allowed_passes)
    ops_before = ir.count_ops(working)
    unit_report = report.UnitReport("module", report.REJECTED, ops_before=ops_before, ops_after=ops_before)
    module_text = ir.print_body(working)
    histogram = ir.op_histogram(working)
    decoding = dataclasses.replace(options.decoding, json_schema=schedule.answer_schema(allowed))
    descriptions = {name: info.description for name, info in allowed.items()}
    feedback: prompts.Feedback | None = None
    for index in range(options.max_attempts):
        attempt = report.Attempt(index, report.REJECTED)
        unit_report.attempts.append(attempt)

        def build_prompt(feedback=feedback) -> prompts.Prompt:
            return prompts.build_schedule_prompt(
                module_text=module_text, histogram=histogram, op_count=ops_before,
                allowed_passes=descriptions, count_tokens=session.backend.count_tokens,
                budget_tokens=session.prompt_budget(options), feedback=feedback)

        try:
            completion = session.ask(build_prompt, decoding, attempt)
        except prompts.PromptTooLarge as error:
            unit_report.attempts.pop()
            unit_report.status, unit_report.reason = report.SKIPPED, str(error)
            return unit_report, working
        if completion is None:
            unit_report.status, unit_report.reason = report.BACKEND_ERROR, attempt.diagnostic
            return unit_report, working
        choice = schedule.parse_answer(completion.text, allowed)
        attempt.pipeline = list(choice.passes)
        attempt.rejected_pass_names = list(choice.rejected)
        attempt.extraction = "passes" if choice.passes else "not_found"
        if not choice.passes:
            attempt.stage, attempt.diagnostic = "extraction", "the answer names no allowed pass"
            feedback = prompts.Feedback("extraction", attempt.diagnostic, "(none)")
            continue
        result = schedule.apply_pipeline(working, choice.passes, allowed)
        previous = ", ".join(choice.passes)
        if result.module is None:
            attempt.checks = {"pipeline": validate.FAILED}
            attempt.stage = "pipeline"
            attempt.diagnostic = f"{result.pipeline} failed: " + "; ".join(str(d) for d in result.diagnostics)
            feedback = prompts.Feedback("pipeline", attempt.diagnostic, previous)
            continue
        attempt.checks = {"pipeline": validate.OK, "verify": validate.OK}
        attempt.ops_after = result.ops_after
        if result.ops_after is not None and result.ops_after < ops_before:
            attempt.outcome = report.ACCEPTED
            unit_report.status = report.ACCEPTED
            unit_report.reason = f"{result.pipeline}: {ops_before} -> {result.ops_after} operations"
            unit_report.ops_after = result.ops_after
            return unit_report, result.module
        attempt.stage = "op_count"
        attempt.diagnostic = (f"it left {result.ops_after} operations; the module has {ops_before}, "
                              "so it does not make the module smaller")
        feedback = prompts.Feedback("op_count", attempt.diagnostic, previous)
    last = unit_report.attempts[-1]
    unit_report.reason = (f"no pipeline kept in {options.max_attempts} attempt(s); "
                          f"last: {last.stage}: {last.diagnostic}")
    return unit_report, working


def transform_text(text: str, backend: backends.Backend, options: TransformOptions,
                   response_cache: cache.ResponseCache | None = None,
                   source_name: str = "<input>") -> TransformResult:
    """Transforms MLIR text; the text comes back byte-identical when nothing was accepted.

    Raises InputError when the input itself is invalid, and TransformError in strict mode when a
    unit could not be transformed.
    """
    started = time.monotonic()
    context = ir.new_context()
    try:
        module = ir.parse_module(text, context, source_name)
    except ir.IrError as error:
        raise InputError(f"{error}; fix the MLIR that produced {source_name}") from None
    run_report = report.RunReport(
        input=source_name,
        mode=options.mode,
        task=options.task if options.mode == REWRITE_MODE else None,
        backend=_backend_describe(backend),
        strict=options.strict,
        ops_before=ir.count_ops(module),
    )
    session = _Session(backend, response_cache)
    working = module
    if options.mode == SCHEDULE_MODE:
        unit_report, working = _schedule_module(session, working, options)
        run_report.units.append(unit_report)
    else:
        names = [ir.symbol_name(f) for f in ir.functions(module) if not ir.is_declaration(f)]
        missing = [name for name in options.functions if name not in names]
        if missing:
            raise InputError(f"{source_name} has no function(s) {', '.join('@' + n for n in missing)} "
                             f"to rewrite; it defines {', '.join('@' + n for n in names)}")
        validator = validate.Validator(options.validation)
        for name in options.functions or names:
            unit_report, working = _rewrite_function(session, validator, working, name, options)
            run_report.units.append(unit_report)

    changed = any(unit.status == report.ACCEPTED for unit in run_report.units)
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
