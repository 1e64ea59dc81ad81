"""The search floor: the best verified result passlib.search finds, per function and for the module.

Function phase: each defined function is searched in its unit (the function, its callees and the
globals it uses declared: passlib.ir.extract_unit) with the passes that act inside one function (the
allow-list less the inter-procedural ones). A state is a result only if it still defines the function
with the same signature. The best state whose function, put back into the module, verifies and passes
the execution check against the original (passlib.validate's checker; a function whose inputs cannot
be made passes unless equivalence is required) replaces the function; when the best fails, the next
ones are tried (at most MAX_CHECKED candidates).

Module phase: the whole module, after the function phase, searched with every allowed pass; a state
must keep every public function with its signature, and each public function must pass the execution
check against the input module.

A unit changes only when its cost falls strictly. Results are cached (passlib.search_cache) by unit,
allow-list, budget, cost and phase.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from iree.compiler import ir as mlir

from passlib import equivalence, ir, report, schedule, search, search_cache, search_worker, validate

FUNCTION_PHASE = "function"
MODULE_PHASE = "module"
MODULE_UNIT = "module"
# Candidates, best first, whose execution check a unit may try before it keeps the input.
MAX_CHECKED = 3
INPUT, SEARCH, LLM = "input", "search", "llm"


@dataclasses.dataclass
class UnitOutcome:
    """What the floor did to one unit."""

    name: str
    cost_before: float
    cost_after: float
    pipeline: list[str] | None
    detail: str
    search: dict


def _public_signatures(module: mlir.Operation) -> dict[str, ir.FunctionSignature]:
    """The signature of each public function `module` defines."""
    signatures = {}
    for function in ir.functions(module):
        visibility = function.attributes["sym_visibility"] if "sym_visibility" in function.attributes else None
        if not ir.is_declaration(function) and (visibility is None or str(visibility) == '"public"'):
            signatures[ir.symbol_name(function)] = ir.signature(function)
    return signatures


def _check_functions(checker: equivalence.EquivalenceChecker, before: mlir.Operation, after: mlir.Operation,
                     names: list[str], require: bool) -> tuple[bool, str]:
    """Whether each function `names` computes the same in `after` as in `before`."""
    details = []
    for name in names:
        result = checker.check(ir.extract_unit(before, name, callee_bodies=True),
                               ir.extract_unit(after, name, callee_bodies=True), name)
        refused = result.status == equivalence.SKIPPED and require
        if result.status not in (equivalence.EQUIVALENT, equivalence.SKIPPED) or refused:
            return False, f"@{name}: {result.status}: {result.detail}"
        details.append(f"@{name}: {result.detail}")
    return True, "; ".join(details) or "no public function to check"


def check_module(checker: equivalence.EquivalenceChecker, validation: validate.ValidationOptions,
                 original: mlir.Operation, candidate: mlir.Operation) -> tuple[bool, str]:
    """Whether `candidate` keeps each public function of `original` with its signature and, unless the
    execution check is off, computes the same with it (for LLM pipelines and judged outputs)."""
    expected = _public_signatures(original)
    missing = ir.signature_mismatch(candidate, expected)
    if missing is not None:
        return False, missing
    if not validation.check_equivalence:
        return True, "execution check off"
    return _check_functions(checker, original, candidate, sorted(expected), validation.require_equivalence)


class Floor:
    """Runs the floor over modules with one allow-list, budget, cost and validation policy."""

    def __init__(self, allowed: Mapping[str, schedule.PassInfo], options: search.SearchOptions,
                 validation: validate.ValidationOptions, cache: search_cache.SearchCache | None = None,
                 worker: search_worker.SearchWorker | None = None) -> None:
        self.allowed = dict(allowed)
        self.local = {name: info for name, info in self.allowed.items() if not info.interprocedural}
        self.options = options
        self.cost = search.cost_named(options.cost)
        self.validation = validation
        self.checker = equivalence.EquivalenceChecker(validation.equivalence)
        self.cache = cache
        self.worker = worker or search_worker.shared()

    # --- shared -----------------------------------------------------------------------------------

    def _replay(self, key: str, unit: mlir.Operation, allowed: Mapping[str, schedule.PassInfo]
                ) -> tuple[mlir.Operation | None, dict | None, str]:
        """A cached outcome replayed on `unit`: (module or None for "keep the input", entry, status)."""
        if self.cache is None:
            return None, None, "disabled"
        entry, status = self.cache.lookup(key)
        if entry is None:
            return None, None, status
        if entry["pipeline"] is None:
            return None, entry, search_cache.HIT
        result = self.worker.apply_pipeline(unit, entry["pipeline"], allowed)
        if result.module is None or search.module_key(result.module) != entry["output"]:
            return None, None, search_cache.CORRUPT
        return result.module, entry, search_cache.HIT

    def _store(self, key: str, pipeline: list[str] | None, module: mlir.Operation | None, detail: str) -> None:
        if self.cache is not None:
            self.cache.store(key, pipeline, None if module is None else search.module_key(module), detail)

    @staticmethod
    def _summary(result: search.SearchResult, cache_status: str) -> dict:
        summary = {"cache": cache_status, "runs": result.runs, "failed_runs": result.failed_runs,
                   "states": len(result.ranked), "stopped": result.stopped, "seconds": result.seconds}
        if result.crashed:
            summary["crashed_passes"] = result.crashed
        return summary

    def _check(self, original: mlir.Operation, candidate: mlir.Operation, names: list[str]) -> tuple[bool, str]:
        if not self.validation.check_equivalence:
            return True, "execution check off"
        return _check_functions(self.checker, original, candidate, names, self.validation.require_equivalence)

    def _improve(self, name: str, unit: mlir.Operation, module: mlir.Operation, phase: str,
                 expected: Mapping[str, ir.FunctionSignature], place: Callable[[mlir.Operation], mlir.Operation],
                 check: Callable[[mlir.Operation], tuple[bool, str]]) -> tuple[UnitOutcome, mlir.Operation]:
        """The floor of one unit: search `unit` in the worker (or replay the cache) for states that keep
        `expected`'s signatures, `place` each candidate state in the module, keep the first, best first,
        that `check` passes; `module` when none is cheaper."""
        allowed = self.local if phase == FUNCTION_PHASE else self.allowed
        try:
            cost_before = self.cost.measure(unit)
        except search.CostError as error:
            return UnitOutcome(name, float("nan"), float("nan"), None, f"cost not measurable: {error}",
                               {"cache": "disabled"}), module
        key = search_cache.search_key(ir.print_ir(unit, generic=True), allowed, self.options.budget,
                                      self.options.cost, phase)
        replayed, entry, cache_status = self._replay(key, unit, allowed)
        if entry is not None:
            if replayed is None:
                return UnitOutcome(name, cost_before, cost_before, None, entry["detail"], {"cache": cache_status}), module
            return UnitOutcome(name, cost_before, self.cost.measure(replayed), entry["pipeline"], entry["detail"],
                               {"cache": cache_status}), place(replayed)
        try:
            result = self.worker.search(unit, allowed, self.options, expected, states_sent=MAX_CHECKED)
        except search.CostError as error:
            return UnitOutcome(name, cost_before, cost_before, None, f"no search: {error}",
                               {"cache": cache_status}), module
        detail = f"no pipeline of the {len(allowed)} {phase}-phase passes lowers the {self.cost.name} cost"
        for state in [s for s in result.ranked if s.cost < cost_before][:MAX_CHECKED]:
            candidate = place(state.module)
            ok, why = check(candidate)
            if not ok:
                detail = f"{','.join(state.pipeline)}: {why}"
                continue
            self._store(key, list(state.pipeline), state.module, why)
            return UnitOutcome(name, cost_before, state.cost, list(state.pipeline), why,
                               self._summary(result, cache_status)), candidate
        self._store(key, None, None, detail)
        return UnitOutcome(name, cost_before, cost_before, None, detail, self._summary(result, cache_status)), module

    def improve_function(self, module: mlir.Operation, name: str) -> tuple[UnitOutcome, mlir.Operation]:
        """The floor of `@name` (function phase): its outcome and the module to continue with."""
        expected = {name: ir.signature(ir.find_function(module, name))}

        def place(unit: mlir.Operation) -> mlir.Operation:
            rewritten = ir.clone_module(module)
            ir.replace_function(rewritten, ir.find_function(unit, name))
            return rewritten

        def check(rewritten: mlir.Operation) -> tuple[bool, str]:
            if ir.verify(rewritten):
                return False, "the module does not verify with it"
            return self._check(module, rewritten, [name])

        return self._improve(name, ir.extract_unit(module, name, callee_bodies=False), module, FUNCTION_PHASE,
                             expected=expected, place=place, check=check)

    def improve_module(self, original: mlir.Operation, module: mlir.Operation
                       ) -> tuple[UnitOutcome, mlir.Operation]:
        """The floor of the whole `module` (already through the function phase); checks against `original`."""
        expected = _public_signatures(original)
        return self._improve(MODULE_UNIT, module, module, MODULE_PHASE,
                             expected=expected, place=lambda candidate: candidate,
                             check=lambda candidate: self._check(original, candidate, sorted(expected)))


def unit_report(outcome: UnitOutcome, cost_name: str) -> report.UnitReport:
    """The report of a unit that only the floor worked on (search mode)."""
    improved = outcome.pipeline is not None
    return report.UnitReport(
        outcome.name,
        report.ACCEPTED if improved else report.UNCHANGED,
        reason=(f"{','.join(outcome.pipeline)}: {cost_name} {outcome.cost_before:g} -> {outcome.cost_after:g}; "
                f"{outcome.detail}") if improved else outcome.detail,
        winner=SEARCH if improved else INPUT,
        cost=cost_name,
        costs={INPUT: outcome.cost_before, SEARCH: outcome.cost_after},
        search_pipeline=outcome.pipeline,
        search=outcome.search,
    )
