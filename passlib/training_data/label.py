"""Labels generated modules with the search: the verified pairs the specialist is trained on.

For each candidate module, the search floor (passlib.floor, the same search, costs and execution
check as `llm_transform`) is run
- on the whole module with every allowed pass: when it finds a strictly cheaper module that keeps
  every public signature and passes the execution check, that pipeline is a schedule pair;
- on each defined function of the original module with the function-local passes: each function the
  floor improves (and checks) gives a rewrite pair, the function before and after.
Candidates that do not parse or verify, and pairs that fail the check, give nothing: only verified
pairs are written.
"""

from __future__ import annotations

import logging

from passlib import floor, ir, schedule, search, validate
from passlib.training_data.candidate import Candidate
from passlib.training_data.records import REWRITE, SCHEDULE, TrainingPair

_log = logging.getLogger(__name__)


def labeller(budget: int, cost: str = "ops") -> floor.Floor:
    """The floor that labels candidates: every allowed pass, `budget` pass-manager runs per unit, and
    the execution check required (a unit whose inputs cannot be made gives no pair)."""
    validation = validate.ValidationOptions(require_equivalence=True)
    return floor.Floor(schedule.allowed_passes(None), search.SearchOptions(budget=budget, cost=cost), validation)


def label(candidate: Candidate, floor_: floor.Floor) -> list[TrainingPair]:
    """The verified pairs of one candidate (none when it does not parse or verify)."""
    with ir.new_context() as context:
        try:
            module = ir.parse_module(candidate.module_text, context, candidate.name)
        except ir.IrError as error:
            _log.info("%s: does not parse, skipped (%s)", candidate.name, str(error).splitlines()[0])
            return []
        if ir.verify(module):
            _log.info("%s: does not verify, skipped", candidate.name)
            return []
        module_text = ir.print_ir(module)
        cost_name = floor_.options.cost
        pairs = []
        outcome, _ = floor_.improve_module(module, module)
        if outcome.pipeline:
            pairs.append(TrainingPair(
                name=f"{candidate.name}:schedule", source=candidate.name, kind=candidate.kind, mode=SCHEDULE,
                module=module_text, pipeline=tuple(outcome.pipeline), cost=cost_name,
                cost_before=outcome.cost_before, cost_after=outcome.cost_after))
        for function in ir.functions(module):
            if ir.is_declaration(function):
                continue
            name = ir.symbol_name(function)
            outcome, rewritten = floor_.improve_function(module, name)
            if not outcome.pipeline:
                continue
            pairs.append(TrainingPair(
                name=f"{candidate.name}:rewrite:@{name}", source=candidate.name, kind=candidate.kind, mode=REWRITE,
                module=module_text, pipeline=tuple(outcome.pipeline), cost=cost_name,
                cost_before=outcome.cost_before, cost_after=outcome.cost_after, function=name,
                rewritten=ir.print_ir(ir.find_function(rewritten, name))))
        return pairs
