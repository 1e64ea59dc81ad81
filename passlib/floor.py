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
from collections.abc import Mapping

from iree.compiler import ir as mlir

from passlib import equivalence, ir, report, schedule, search, search_cache, validate

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


def _public(function: mlir.OpView) -> bool:
    visibility = function.attributes["sym_visibility"] if "sym_visibility" in function.attributes else None
    return visibility is None or str(visibility) == '"public"'


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


class Floor:
    """Runs the floor over modules with one allow-list, budget, cost and validation policy."""

    def __init__(self, allowed: Mapping[str, schedule.PassInfo], options: search.SearchOptions,
                 validation: validate.ValidationOptions, cache: search_cache.SearchCache | None = None) -> None:
        self.allowed = dict(allowed)
        self.local = {name: info for name, info in self.allowed.items() if not info.interprocedural}
        self.options = options
        self.cost = search.cost_named(options.cost)
        self.validation = validation
        self.checker = equivalence.EquivalenceChecker(validation.equivalence)
        self.cache = cache

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
        result = schedule.apply_pipeline(unit, entry["pipeline"], allowed)
        if result.module is None or search.module_key(result.module) != entry["output"]:
            return None, None, search_cache.CORRUPT
        return result.module, entry, search_cache.HIT

    def _store(self, key: str, pipeline: list[str] | None, module: mlir.Operation | None, detail: str) -> None:
        if self.cache is not None:
            self.cache.store(key, pipeline, None if module is None else search.module_key(module), detail)

    @staticmethod
    def _summary(result: search.SearchResult | None, cache_status: str) -> dict:
        if result is None:
            return {"cache": cache_status}
        return {"cache": cache_status, "runs": result.runs, "failed_runs": result.failed_runs,
                "states": len(result.ranked), "stopped": result.stopped, "seconds": result.seconds}

    # --- function phase ---------------------------------------------------------------------------

    def improve_function(self, module: mlir.Operation, name: str) -> tuple[UnitOutcome, mlir.Operation]:
        """The floor of `@name`: its outcome and the module to continue with."""
        unit = ir.extract_unit(module, name, callee_bodies=False)
        original = ir.find_function(module, name)
        expected = ir.signature(original)
        try:
            cost_before = self.cost.measure(unit)
        except search.CostError as error:
            return UnitOutcome(name, float("nan"), float("nan"), None, f"cost not measurable: {error}",
                               {"cache": "disabled"}), module
        key = search_cache.search_key(ir.print_ir(unit, generic=True), self.local, self.options.budget,
                                      self.options.cost, FUNCTION_PHASE)
        replayed, entry, cache_status = self._replay(key, unit, self.local)
        if entry is not None:
            if replayed is None:
                return UnitOutcome(name, cost_before, cost_before, None, entry["detail"], {"cache": cache_status}), module
            rewritten = ir.clone_module(module)
            ir.replace_function(rewritten, ir.find_function(replayed, name))
            return UnitOutcome(name, cost_before, self.cost.measure(replayed), entry["pipeline"], entry["detail"],
                               {"cache": cache_status}), rewritten

        def keeps_function(candidate: mlir.Operation) -> bool:
            function = ir.find_function(candidate, name)
            return (function is not None and not ir.is_declaration(function)
                    and not ir.signature_differences(expected, ir.signature(function)))

        result = search.search(unit, self.local, self.options, keep=keeps_function)
        detail = f"no pipeline of {len(self.local)} function-local passes lowers the {self.cost.name} cost"
        for state in [s for s in result.ranked if s.cost < cost_before][:MAX_CHECKED]:
            rewritten = ir.clone_module(module)
            ir.replace_function(rewritten, ir.find_function(state.module, name))
            if ir.verify(rewritten):
                detail = f"{','.join(state.pipeline)}: the module does not verify with it"
                continue
            ok, why = (_check_functions(self.checker, module, rewritten, [name], self.validation.require_equivalence)
                       if self.validation.check_equivalence else (True, "execution check off"))
            if not ok:
                detail = f"{','.join(state.pipeline)}: {why}"
                continue
            self._store(key, list(state.pipeline), state.module, why)
            return UnitOutcome(name, cost_before, state.cost, list(state.pipeline), why,
                               self._summary(result, cache_status)), rewritten
        self._store(key, None, None, detail)
        return UnitOutcome(name, cost_before, cost_before, None, detail, self._summary(result, cache_status)), module

    # --- module phase -----------------------------------------------------------------------------

    def improve_module(self, original: mlir.Operation, module: mlir.Operation
                       ) -> tuple[UnitOutcome, mlir.Operation]:
        """The floor of the whole `module` (already through the function phase); checks against `original`."""
        public = {ir.symbol_name(f): ir.signature(f) for f in ir.functions(original)
                  if not ir.is_declaration(f) and _public(f)}
        try:
            cost_before = self.cost.measure(module)
        except search.CostError as error:
            return UnitOutcome(MODULE_UNIT, float("nan"), float("nan"), None, f"cost not measurable: {error}",
                               {"cache": "disabled"}), module
        key = search_cache.search_key(ir.print_ir(module, generic=True), self.allowed, self.options.budget,
                                      self.options.cost, MODULE_PHASE)
        replayed, entry, cache_status = self._replay(key, module, self.allowed)
        if entry is not None:
            if replayed is None:
                return UnitOutcome(MODULE_UNIT, cost_before, cost_before, None, entry["detail"],
                                   {"cache": cache_status}), module
            return UnitOutcome(MODULE_UNIT, cost_before, self.cost.measure(replayed), entry["pipeline"],
                               entry["detail"], {"cache": cache_status}), replayed

        def keeps_public_functions(candidate: mlir.Operation) -> bool:
            for name, expected in public.items():
                function = ir.find_function(candidate, name)
                if (function is None or ir.is_declaration(function)
                        or ir.signature_differences(expected, ir.signature(function))):
                    return False
            return True

        result = search.search(module, self.allowed, self.options, keep=keeps_public_functions)
        detail = f"no pipeline of the {len(self.allowed)} allowed passes lowers the {self.cost.name} cost"
        for state in [s for s in result.ranked if s.cost < cost_before][:MAX_CHECKED]:
            ok, why = (_check_functions(self.checker, original, state.module, sorted(public),
                                        self.validation.require_equivalence)
                       if self.validation.check_equivalence else (True, "execution check off"))
            if not ok:
                detail = f"{','.join(state.pipeline)}: {why}"
                continue
            self._store(key, list(state.pipeline), state.module, why)
            return UnitOutcome(MODULE_UNIT, cost_before, state.cost, list(state.pipeline), why,
                               self._summary(result, cache_status)), state.module
        self._store(key, None, None, detail)
        return UnitOutcome(MODULE_UNIT, cost_before, cost_before, None, detail,
                           self._summary(result, cache_status)), module

    def check_module(self, original: mlir.Operation, candidate: mlir.Operation) -> tuple[bool, str]:
        """Whether `candidate` keeps and computes each public function of `original` (for LLM pipelines)."""
        public = [ir.symbol_name(f) for f in ir.functions(original) if not ir.is_declaration(f) and _public(f)]
        for name in public:
            function = ir.find_function(candidate, name)
            if function is None or ir.is_declaration(function):
                return False, f"the pipeline removed the public function @{name}"
            differences = ir.signature_differences(ir.signature(ir.find_function(original, name)),
                                                   ir.signature(function))
            if differences:
                return False, f"@{name}: " + "; ".join(differences)
        if not self.validation.check_equivalence:
            return True, "execution check off"
        return _check_functions(self.checker, original, candidate, public, self.validation.require_equivalence)


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
