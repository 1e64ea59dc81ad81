"""Validation of an LLM's rewrite of one function, before anything is written.

In order: the answer parses; it verifies; it defines the function with the same name and types;
the module with the function replaced verifies; and, where inputs can be made, the compiled
function gives the same results as the original (see `passlib.equivalence`). The first failing
check names the stage and gives a diagnostic that the retry prompt can quote.

An answer may leave out the declarations the prompt showed as context (callees, globals); if it
does not parse on its own, it is parsed once more after those declarations.
"""

from __future__ import annotations

import dataclasses

from iree.compiler import ir as mlir

from passlib import equivalence, ir

PARSE = "parse"
VERIFY = "verify"
SIGNATURE = "signature"
MODULE_VERIFY = "module_verify"
EQUIVALENCE = "equivalence"
OK = "ok"
FAILED = "failed"


@dataclasses.dataclass(frozen=True)
class ValidationOptions:
    """Which behavioural checks to make."""

    check_equivalence: bool = True
    require_equivalence: bool = False
    equivalence: equivalence.EquivalenceOptions = dataclasses.field(
        default_factory=equivalence.EquivalenceOptions
    )


@dataclasses.dataclass
class Validation:
    """The verdict on one answer.

    `checks` maps each stage that ran to "ok" or "failed" (equivalence to its status); `module` is
    the whole module with the rewrite in place when the answer is accepted.
    """

    accepted: bool
    unchanged: bool = False
    stage: str | None = None
    diagnostic: str | None = None
    checks: dict[str, str] = dataclasses.field(default_factory=dict)
    equivalence_detail: str | None = None
    module: mlir.Operation | None = None
    ops_before: int | None = None
    ops_after: int | None = None


def _diagnostics_text(diagnostics: list[ir.Diagnostic]) -> str:
    return "\n".join(str(diagnostic) for diagnostic in diagnostics)


def _parse_answer(text: str, unit: mlir.Operation, name: str, context: mlir.Context) -> mlir.Operation:
    """The answer as a module; retried after the unit's context declarations if needed."""
    try:
        return ir.parse_module(text, context, "answer", untrusted=True)
    except ir.IrError as alone:
        context_ops = [op for op in unit.operation.regions[0].blocks[0].operations
                       if ir.symbol_name(op) != name]
        if alone.stage == ir.PARSE_STAGE or not context_ops:
            raise
        prefix = "".join(ir.print_ir(op.operation) + "\n" for op in context_ops)
        try:
            return ir.parse_module(prefix + text, context, "answer", untrusted=True)
        except ir.IrError as with_context:
            shift = prefix.count("\n")
            shifted = [
                dataclasses.replace(d, line=d.line - shift) if d.line is not None and d.line > shift else d
                for d in with_context.diagnostics
            ]
            raise ir.IrError(with_context.stage, shifted, "answer") from None


class Validator:
    """Validates rewrites against one module; keeps each original's execution results."""

    def __init__(self, options: ValidationOptions | None = None) -> None:
        self.options = options or ValidationOptions()
        self.checker = equivalence.EquivalenceChecker(self.options.equivalence)

    def validate_rewrite(self, module: mlir.Operation, name: str, answer_mlir: str) -> Validation:
        """Checks that `answer_mlir` is a valid, equivalent replacement for `@name` in `module`."""
        original_function = ir.find_function(module, name)
        if original_function is None:
            raise KeyError(f"no function @{name} in the module")
        checks: dict[str, str] = {}
        unit = ir.extract_unit(module, name, callee_bodies=False)
        try:
            answer = _parse_answer(answer_mlir, unit, name, module.operation.context)
        except ir.IrError as error:
            checks[PARSE] = FAILED if error.stage == ir.PARSE_STAGE else OK
            if error.stage == ir.VERIFY_STAGE:
                checks[VERIFY] = FAILED
            return Validation(False, stage=error.stage, diagnostic=_diagnostics_text(error.diagnostics),
                              checks=checks)
        checks[PARSE] = checks[VERIFY] = OK

        candidate = ir.find_function(answer, name)
        if candidate is None or ir.is_declaration(candidate):
            defined = [f"@{ir.symbol_name(f)}" for f in ir.functions(answer) if not ir.is_declaration(f)]
            checks[SIGNATURE] = FAILED
            return Validation(False, stage=SIGNATURE, checks=checks,
                              diagnostic=f"the answer does not define @{name} "
                              f"(it defines {', '.join(defined) or 'no function'})")
        differences = ir.signature_differences(ir.signature(original_function), ir.signature(candidate))
        if differences:
            checks[SIGNATURE] = FAILED
            return Validation(False, stage=SIGNATURE, checks=checks,
                              diagnostic=f"@{name}: " + "; ".join(differences))
        checks[SIGNATURE] = OK
        ops_before = ir.count_ops(original_function)
        ops_after = ir.count_ops(candidate)
        if ir.print_ir(candidate, generic=True) == ir.print_ir(original_function, generic=True):
            return Validation(False, unchanged=True, checks=checks, ops_before=ops_before,
                              ops_after=ops_after, diagnostic="the answer is the original function")

        rewritten = ir.clone_module(module)
        ir.replace_function(rewritten, candidate)
        module_diagnostics = ir.verify(rewritten)
        if module_diagnostics:
            checks[MODULE_VERIFY] = FAILED
            return Validation(False, stage=MODULE_VERIFY, checks=checks,
                              diagnostic="the module with the rewrite in place does not verify: "
                              + _diagnostics_text(module_diagnostics))
        checks[MODULE_VERIFY] = OK

        detail = None
        if self.options.check_equivalence:
            result = self.checker.check(
                ir.extract_unit(module, name, callee_bodies=True),
                ir.extract_unit(rewritten, name, callee_bodies=True),
                name,
            )
            checks[EQUIVALENCE] = result.status
            detail = result.detail
            refused = result.status == equivalence.SKIPPED and self.options.require_equivalence
            if result.status not in (equivalence.EQUIVALENT, equivalence.SKIPPED) or refused:
                return Validation(False, stage=EQUIVALENCE, checks=checks, equivalence_detail=detail,
                                  diagnostic=f"{result.status}: {result.detail}",
                                  ops_before=ops_before, ops_after=ops_after)
        return Validation(True, checks=checks, equivalence_detail=detail, module=rewritten,
                          ops_before=ops_before, ops_after=ops_after)
