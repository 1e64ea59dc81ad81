"""Schedule mode: an LLM picks a pass pipeline from an allow-list; the real pass manager runs it.

Only names from the allow-list can come out: the answer (JSON `{"passes": [...]}` or free text) is
parsed into allowed names and everything else is dropped and reported; HTTP backends are also asked
for JSON that matches a schema whose items are exactly the allowed names. The pipeline is built with
each pass at the anchor it needs (module, or nested under `func.func`) and run by
`iree.compiler.passmanager.PassManager` on a copy of the module.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from iree.compiler import ir as mlir
from iree.compiler import passmanager

from passlib import extract, ir

MODULE_ANCHOR = "module"
FUNCTION_ANCHOR = "function"
MAX_PIPELINE_LENGTH = 16


@dataclasses.dataclass(frozen=True)
class PassInfo:
    """An allowed pass: what it does (for the prompt) and where it must be nested."""

    description: str
    anchor: str = MODULE_ANCHOR
    # Whether the pass looks across functions (inlining, dead symbols, signatures): such passes are
    # left out of the search inside one function's unit (passlib.floor) and run on the whole module.
    interprocedural: bool = False


ALLOWED_PASSES: dict[str, PassInfo] = {
    "canonicalize": PassInfo("fold constants and apply each operation's simplification patterns"),
    "cse": PassInfo("eliminate common sub-expressions"),
    "inline": PassInfo("inline function calls (then canonicalize)", interprocedural=True),
    "symbol-dce": PassInfo("delete private functions and globals that nothing uses", interprocedural=True),
    "loop-invariant-code-motion": PassInfo("hoist loop-invariant operations out of loops"),
    "iree-util-optimize-int-arithmetic": PassInfo(
        "simplify integer arithmetic with range analysis"),
    "iree-util-fold-globals": PassInfo("fold duplicate globals and propagate constant globals",
                                       interprocedural=True),
    "iree-util-ipo": PassInfo(
        "inter-procedural optimization: propagate constant arguments, drop unused results",
        interprocedural=True),
    "iree-util-apply-patterns": PassInfo("IREE's extra canonicalization patterns"),
    "iree-util-simplify-global-accesses": PassInfo(
        "hoist global loads and sink global stores", FUNCTION_ANCHOR),
    "linalg-fuse-elementwise-ops": PassInfo("fuse producer/consumer elementwise linalg operations"),
    "linalg-fold-unit-extent-dims": PassInfo("remove unit-extent dimensions from linalg operations"),
    "affine-simplify-structures": PassInfo(
        "simplify affine maps and sets", FUNCTION_ANCHOR),
    # Registered in IREE 3.8's pass registry (the upstream sccp, remove-dead-values,
    # loop-invariant-subset-hoisting and scf-for-loop-canonicalization are not: its Python bindings
    # and iree-opt refuse those names).
    "linalg-generalize-named-ops": PassInfo("rewrite named linalg operations as linalg.generic"),
    "linalg-specialize-generic-ops": PassInfo("rewrite linalg.generic operations as named ones"),
    "linalg-inline-scalar-operands": PassInfo("inline scalar operands of linalg.generic into its body"),
    "iree-global-opt-erase-unused-linalg-operands": PassInfo(
        "erase unused linalg operands and dead code"),
}


@dataclasses.dataclass(frozen=True)
class PipelineChoice:
    """The allowed passes read from an answer, in order, and the names that were dropped."""

    passes: tuple[str, ...]
    rejected: tuple[str, ...]


@dataclasses.dataclass
class PipelineResult:
    """What running a pipeline gave: the new module, or diagnostics saying why not."""

    module: mlir.Operation | None
    pipeline: str
    diagnostics: list[ir.Diagnostic]
    ops_after: int | None = None


def allowed_passes(names: Iterable[str] | None = None) -> dict[str, PassInfo]:
    """The allow-list: all known passes, or the named subset (ValueError for unknown names)."""
    if names is None:
        return dict(ALLOWED_PASSES)
    chosen = {}
    for name in names:
        if name not in ALLOWED_PASSES:
            raise ValueError(
                f"pass {name!r} is not in passlib's allow-list; choose from {', '.join(ALLOWED_PASSES)}"
            )
        chosen[name] = ALLOWED_PASSES[name]
    return chosen


def answer_schema(allowed: Mapping[str, PassInfo]) -> dict[str, Any]:
    """A JSON schema that only admits `{"passes": [allowed names]}`."""
    return {
        "type": "object",
        "properties": {"passes": {"type": "array", "items": {"type": "string", "enum": list(allowed)}}},
        "required": ["passes"],
        "additionalProperties": False,
    }


# `{"passes": [...]}` objects read from one answer, and the characters each may span: an answer that
# is a long run of such openings (or of nested JSON) is read in time linear in its length, and never
# deeper than the JSON decoder's recursion allows.
MAX_JSON_OBJECTS = 8
MAX_JSON_OBJECT_CHARS = 16 * 1024
_PASSES_OBJECT = re.compile(r'\{\s*"passes"\s*:')


def _passes_objects(text: str) -> Iterable[Any]:
    """The first MAX_JSON_OBJECTS JSON values that start like `{"passes": ...` and decode."""
    decoder = json.JSONDecoder()
    for match in itertools.islice(_PASSES_OBJECT.finditer(text), MAX_JSON_OBJECTS):
        window = text[match.start():match.start() + MAX_JSON_OBJECT_CHARS]
        try:
            value, _ = decoder.raw_decode(window)
        except (json.JSONDecodeError, RecursionError):
            continue
        yield value


def parse_answer(text: str, allowed: Mapping[str, PassInfo],
                 max_length: int = MAX_PIPELINE_LENGTH) -> PipelineChoice:
    """The allowed pass names in an answer: from `{"passes": [...]}` if present, else from the text.

    Only the first extract.MAX_ANSWER_CHARS characters are read.
    """
    text = text[:extract.MAX_ANSWER_CHARS]
    for value in _passes_objects(text):
        if isinstance(value, dict) and isinstance(value.get("passes"), list):
            kept, rejected = [], []
            for item in value["passes"][:MAX_JSON_OBJECT_CHARS]:
                name = str(item).strip().lstrip("-") if isinstance(item, str) else json.dumps(item)[:80]
                (kept if name in allowed else rejected).append(name)
            return PipelineChoice(tuple(kept[:max_length]), tuple(rejected[:max_length]))
    names = sorted(allowed, key=len, reverse=True)
    pattern = re.compile(r"(?<![\w.-])(" + "|".join(re.escape(n) for n in names) + r")(?![\w-])")
    found = itertools.islice((match.group(1) for match in pattern.finditer(text)), max_length)
    return PipelineChoice(tuple(found), ())


def pipeline_text(passes: Iterable[str], allowed: Mapping[str, PassInfo]) -> str:
    """The textual pass pipeline, with function-anchored passes nested under func.func."""
    parts: list[str] = []
    nested: list[str] = []
    for name in passes:
        if allowed[name].anchor == FUNCTION_ANCHOR:
            nested.append(name)
            continue
        if nested:
            parts.append(f"func.func({','.join(nested)})")
            nested = []
        parts.append(name)
    if nested:
        parts.append(f"func.func({','.join(nested)})")
    return f"builtin.module({','.join(parts)})"


def apply_pipeline(module: mlir.Operation, passes: Iterable[str],
                   allowed: Mapping[str, PassInfo]) -> PipelineResult:
    """Runs the passes on a copy of `module`; the copy is returned only if it verifies."""
    text = pipeline_text(passes, allowed)
    candidate = ir.clone_module(module)
    context = module.operation.context
    try:
        with context:
            manager = passmanager.PassManager.parse(text)
    except ValueError as error:
        return PipelineResult(None, text, [ir.Diagnostic(str(error))])
    try:
        manager.run(candidate.operation)
    except mlir.MLIRError as error:
        diagnostics = [ir.Diagnostic(d.message) for d in error.error_diagnostics]
        diagnostics = diagnostics or [ir.Diagnostic(error.message)]
        return PipelineResult(None, text, diagnostics)
    diagnostics = ir.verify(candidate)
    if diagnostics:
        return PipelineResult(None, text, diagnostics)
    return PipelineResult(candidate, text, [], ir.count_ops(candidate))
