"""MLIR handling for passlib through IREE's MLIR Python bindings (`iree.compiler.ir`).

Parsing collects the diagnostics and tells a parse error from a verifier error: `ir.Module.parse`
always verifies, so when it fails the text is parsed once more by `iree-opt` with verification on
parsing disabled; if that succeeds, the failure was the verifier's. Printing gives generic or pretty
form without locations. A module splits into per-function units that parse on their own (the
function, declarations of the functions it calls and the other symbols it references), and a
function is replaced in place through the API.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Mapping

from iree.compiler import ir as mlir
from iree.compiler.dialects import func as func_dialect
from iree.compiler.tools import binaries

from passlib import sandbox

PARSE_STAGE = "parse"
VERIFY_STAGE = "verify"
_CLASSIFY_TIMEOUT_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class Diagnostic:
    """One error reported by MLIR, with its position in the parsed text when it has one."""

    message: str
    line: int | None = None
    column: int | None = None
    notes: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}: " if self.line is not None else ""
        notes = "".join(f" (note: {note})" for note in self.notes)
        return f"{where}{self.message}{notes}"


class IrError(Exception):
    """MLIR text that does not parse (stage "parse") or parses but fails verification ("verify")."""

    def __init__(self, stage: str, diagnostics: list[Diagnostic], source_name: str) -> None:
        self.stage = stage
        self.diagnostics = diagnostics
        self.source_name = source_name
        details = "; ".join(str(diagnostic) for diagnostic in diagnostics) or "no diagnostic"
        super().__init__(f"{source_name}: {stage} error: {details}")


@dataclasses.dataclass(frozen=True)
class FunctionSignature:
    """A function's name and its argument and result types, printed as MLIR types."""

    name: str
    inputs: tuple[str, ...]
    results: tuple[str, ...]

    def __str__(self) -> str:
        return f"@{self.name}({', '.join(self.inputs)}) -> ({', '.join(self.results)})"


@dataclasses.dataclass(frozen=True)
class FunctionUnit:
    """One function of a module, as a module of its own that parses and verifies standalone."""

    name: str
    module: mlir.Operation


def new_context() -> mlir.Context:
    """A context with all of IREE's dialects registered (the bindings register them on creation)."""
    return mlir.Context()


def _diagnostic_from(info: mlir.DiagnosticInfo) -> Diagnostic:
    location = info.location
    line = column = None
    if location.is_a_file():
        line, column = location.start_line, location.start_col
    return Diagnostic(info.message, line, column, tuple(note.message for note in info.notes))


def _diagnostics_from(error: mlir.MLIRError) -> list[Diagnostic]:
    diagnostics = [_diagnostic_from(info) for info in error.error_diagnostics]
    return diagnostics or [Diagnostic(error.message)]


def parses_without_verifier(text: str) -> bool:
    """Whether `text` is syntactically valid MLIR, ignoring the verifier (asks `iree-opt`)."""
    outcome = sandbox.run(
        [binaries.find_tool("iree-opt"), "--mlir-very-unsafe-disable-verifier-on-parsing", "-o", "/dev/null", "-"],
        limits=sandbox.Limits(timeout_s=_CLASSIFY_TIMEOUT_SECONDS),
        input=text.encode("utf-8", "surrogatepass"),
    )
    return not isinstance(outcome, sandbox.Crash) and outcome.returncode == 0


def parse_module(text: str, context: mlir.Context, source_name: str = "<input>",
                 untrusted: bool = False) -> mlir.Operation:
    """Parses and verifies MLIR text into a module operation; raises IrError naming the stage.

    With `untrusted`, the text is first parsed in a limited child process (`sandbox.parse_check`)
    and only parsed here if the child survived it: a text that crashes the parser (deeply nested
    types overflow its stack) is a parse error with the reason, not a crash of this process.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        message = f"the text is not valid Unicode (a lone surrogate at character {error.start})"
        raise IrError(PARSE_STAGE, [Diagnostic(message)], source_name) from None
    if untrusted:
        crash = sandbox.parse_check(text)
        if crash is not None:
            message = f"the MLIR parser did not survive this text in a sandbox ({crash.reason}); it was not parsed"
            raise IrError(PARSE_STAGE, [Diagnostic(message)], source_name)
    try:
        module = mlir.Module.parse(text, context)
    except mlir.MLIRError as error:
        diagnostics = _diagnostics_from(error)
        stage = VERIFY_STAGE if parses_without_verifier(text) else PARSE_STAGE
        raise IrError(stage, diagnostics, source_name) from None
    return module.operation.clone()


def verify(operation: mlir.Operation) -> list[Diagnostic]:
    """The verifier's diagnostics for `operation`; empty when it verifies."""
    try:
        operation.verify()
    except mlir.MLIRError as error:
        return _diagnostics_from(error)
    return []


def print_ir(operation: mlir.Operation, generic: bool = False) -> str:
    """The operation's text, without locations, in pretty or generic form."""
    return operation.get_asm(print_generic_op_form=generic, enable_debug_info=False)


def print_body(module: mlir.Operation, generic: bool = False) -> str:
    """The module's top-level operations printed one after another, without the module wrapper."""
    return "\n\n".join(print_ir(op.operation, generic) for op in _body(module).operations) + "\n"


def count_ops(operation: mlir.Operation) -> int:
    """The number of operations nested inside `operation` (not counting itself)."""
    return sum(op_histogram(operation).values())


def op_histogram(operation: mlir.Operation) -> dict[str, int]:
    """How many times each operation name occurs inside `operation`, most frequent first."""
    counts: collections.Counter[str] = collections.Counter()
    root = operation.operation

    def visit(op: mlir.Operation) -> mlir.WalkResult:
        if op != root:
            counts[op.name] += 1
        return mlir.WalkResult.ADVANCE

    root.walk(visit)
    return dict(counts.most_common())


def _body(module: mlir.Operation) -> mlir.Block:
    return module.operation.regions[0].blocks[0]


def symbol_name(op: mlir.Operation) -> str | None:
    """The `sym_name` of a symbol operation, or None for other operations."""
    attributes = op.operation.attributes
    if "sym_name" not in attributes:
        return None
    return mlir.StringAttr(attributes["sym_name"]).value


def functions(module: mlir.Operation) -> list[mlir.OpView]:
    """The top-level `func.func` operations of a module, declarations included, in order."""
    return [op for op in _body(module).operations if op.operation.name == "func.func"]


def is_declaration(function: mlir.OpView) -> bool:
    """Whether a `func.func` has no body."""
    return len(function.operation.regions[0].blocks) == 0


def find_function(module: mlir.Operation, name: str) -> mlir.OpView | None:
    """The top-level `func.func @name` of a module, or None."""
    for function in functions(module):
        if symbol_name(function) == name:
            return function
    return None


def function_type(function: mlir.OpView) -> mlir.FunctionType:
    """The MLIR function type of a `func.func`."""
    return mlir.FunctionType(mlir.TypeAttr(function.operation.attributes["function_type"]).value)


def signature(function: mlir.OpView) -> FunctionSignature:
    """The name and the argument and result types of a `func.func`."""
    kind = function_type(function)
    name = symbol_name(function)
    assert name is not None, "func.func always has a sym_name"
    return FunctionSignature(
        name, tuple(str(t) for t in kind.inputs), tuple(str(t) for t in kind.results)
    )


def signature_differences(expected: FunctionSignature, actual: FunctionSignature) -> list[str]:
    """What differs between two signatures, in words; empty when they agree."""
    differences = []
    if expected.name != actual.name:
        differences.append(f"name is @{actual.name}, expected @{expected.name}")
    if expected.inputs != actual.inputs:
        differences.append(
            f"argument types are ({', '.join(actual.inputs)}), "
            f"expected ({', '.join(expected.inputs)})"
        )
    if expected.results != actual.results:
        differences.append(
            f"result types are ({', '.join(actual.results)}), "
            f"expected ({', '.join(expected.results)})"
        )
    return differences


def _symbols_in_attribute(attribute: mlir.Attribute, found: set[str]) -> None:
    if mlir.SymbolRefAttr.isinstance(attribute):
        found.add(mlir.SymbolRefAttr(attribute).value[0])
    elif mlir.ArrayAttr.isinstance(attribute):
        for element in mlir.ArrayAttr(attribute):
            _symbols_in_attribute(element, found)
    elif mlir.DictAttr.isinstance(attribute):
        dictionary = mlir.DictAttr(attribute)
        for index in range(len(dictionary)):
            _symbols_in_attribute(dictionary[index].attr, found)


def signature_mismatch(module: mlir.Operation, expected: Mapping[str, FunctionSignature]) -> str | None:
    """Why `module` does not define each function of `expected` with its signature, or None."""
    for name, signature_ in expected.items():
        function = find_function(module, name)
        if function is None or is_declaration(function):
            return f"the public function @{name} is gone"
        differences = signature_differences(signature_, signature(function))
        if differences:
            return f"@{name}: " + "; ".join(differences)
    return None


def referenced_symbols(operation: mlir.Operation) -> set[str]:
    """The root names of all symbol references made inside `operation` (e.g. callees, globals)."""
    found: set[str] = set()

    def visit(op: mlir.Operation) -> mlir.WalkResult:
        for named in op.attributes:
            _symbols_in_attribute(named.attr, found)
        return mlir.WalkResult.ADVANCE

    operation.operation.walk(visit)
    return found


def extract_unit(module: mlir.Operation, name: str, callee_bodies: bool) -> mlir.Operation:
    """A new module holding `@name` and every top-level symbol it references, transitively.

    With `callee_bodies` False, called functions become private declarations (what a prompt needs);
    with True they keep their bodies (what compiling and running the function needs).
    """
    symbols = {symbol_name(op): op for op in _body(module).operations if symbol_name(op)}
    if name not in symbols:
        raise KeyError(f"no symbol @{name} in the module")
    keep: set[str] = set()
    pending = [name]
    while pending:
        current = pending.pop()
        if current in keep or current not in symbols:
            continue
        keep.add(current)
        op = symbols[current]
        as_declaration = current != name and not callee_bodies and op.operation.name == "func.func"
        if not as_declaration:
            pending.extend(referenced_symbols(op))
    context = module.operation.context
    with context, mlir.Location.unknown(context):
        unit = mlir.Module.create().operation.clone()
        insertion = mlir.InsertionPoint(_body(unit))
        for op in _body(module).operations:
            op_name = symbol_name(op)
            if op_name not in keep:
                continue
            is_function = op.operation.name == "func.func"
            if op_name != name and not callee_bodies and is_function and not is_declaration(op):
                func_dialect.FuncOp(
                    op_name, function_type(op), visibility="private", ip=insertion
                )
            else:
                op.operation.clone(ip=insertion)
    return unit


def split_functions(module: mlir.Operation) -> list[FunctionUnit]:
    """Every function with a body, each as a standalone unit with its callees declared."""
    return [
        FunctionUnit(symbol_name(function), extract_unit(module, symbol_name(function), False))
        for function in functions(module)
        if not is_declaration(function)
    ]


def replace_function(module: mlir.Operation, replacement: mlir.OpView) -> None:
    """Puts a clone of `replacement` where the function of the same name is, and erases that one."""
    name = symbol_name(replacement)
    current = find_function(module, name) if name else None
    if current is None:
        raise KeyError(f"no function @{name} in the module to replace")
    replacement.operation.clone(ip=mlir.InsertionPoint(current.operation))
    current.operation.erase()


def clone_module(module: mlir.Operation) -> mlir.Operation:
    """A detached deep copy of a module operation."""
    return module.operation.clone()
