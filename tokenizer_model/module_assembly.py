"""Assembles a tokenizer MLIR module: table globals, `load_tables`, and functions around dispatches.

The tables are not baked into the module. They live in mutable, dynamically shaped globals that
the host fills once with `load_tables(...)` from the tensors of the IRPA file, so one compiled
module serves every vocabulary of its algorithm. (IREE 3.8 parameters, `#flow.parameter.named`,
need static shapes, which would tie a compiled module to one vocabulary's table sizes.)
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from tokenizer_model.scalar_kernel import DispatchBuilder, DispatchOperand, DispatchOutput, Scalar, View

NUMPY_TYPES = {"i8": np.uint8, "i32": np.int32, "i64": np.int64}


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """One table: its IRPA key and kernel element type (i8 tables hold unsigned bytes)."""

    name: str
    element: str

    @property
    def numpy_dtype(self) -> type:
        return NUMPY_TYPES[self.element]


ARENA_ELEMENTS = ("i8", "i32", "i64")


def arena_name(element: str) -> str:
    return f"tables_{element}"


class TableLayout:
    """Packs the tables of one algorithm into three arenas (one per element type).

    A dispatch may have at most 64 push constants and every dynamically sized operand costs two,
    so the kernels do not take one operand per table. The `i32` arena starts with a directory:
    entries `2k` and `2k+1` hold the offset (in its own arena) and length of table `k`.
    """

    def __init__(self, specs: Sequence[TableSpec]) -> None:
        self.specs = tuple(specs)
        # Only element types that have tables get an arena: IREE drops a global nothing reads,
        # and calling a function whose argument was dropped that way crashes iree.runtime 3.8.
        self.elements = tuple(e for e in ARENA_ELEMENTS if e == "i32" or any(s.element == e for s in specs))

    def pack(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The arenas for `load_tables`, keyed by element type."""
        pieces: dict[str, list[np.ndarray]] = {element: [] for element in ARENA_ELEMENTS}
        filled = {element: 0 for element in ARENA_ELEMENTS}
        filled["i32"] = 2 * len(self.specs)
        directory = np.zeros(2 * len(self.specs), dtype=np.int32)
        for index, spec in enumerate(self.specs):
            array = np.ascontiguousarray(arrays[spec.name], dtype=spec.numpy_dtype)
            directory[2 * index], directory[2 * index + 1] = filled[spec.element], array.size
            pieces[spec.element].append(array)
            filled[spec.element] += array.size
        pieces["i32"].insert(0, directory)
        arenas = {}
        for element in self.elements:
            dtype = NUMPY_TYPES[element]
            arena = np.concatenate(pieces[element]) if pieces[element] else np.zeros(0, dtype=dtype)
            arenas[element] = arena if arena.size else np.zeros(1, dtype=dtype)
        return arenas

    def operands(self) -> list[DispatchOperand]:
        return [DispatchOperand(arena_name(element), element) for element in self.elements]

    def bind(self, dispatch: DispatchBuilder) -> tuple[dict[str, View], dict[str, Scalar]]:
        """(views, lengths) of every table inside a dispatch that has the arena operands."""
        kernel = dispatch.kernel
        directory = dispatch.input(arena_name("i32"))
        views: dict[str, View] = {}
        lengths: dict[str, Scalar] = {}
        for index, spec in enumerate(self.specs):
            base = kernel.load(directory, 2 * index)
            lengths[spec.name] = kernel.load(directory, 2 * index + 1)
            views[spec.name] = View(dispatch.input(arena_name(spec.element)), base)
        return views, lengths


def arena_globals(layout: TableLayout) -> list[str]:
    lines = [f"util.global private mutable @{arena_name(e)} : tensor<?x{e}>" for e in layout.elements]
    arguments = ", ".join(f"%{arena_name(e)}: tensor<?x{e}>" for e in layout.elements)
    lines.append(f"func.func @load_tables({arguments}) {{")
    for element in layout.elements:
        lines.append(f"  util.global.store %{arena_name(element)}, @{arena_name(element)} : tensor<?x{element}>")
    lines += ["  return", "}"]
    return lines


class FunctionBody:
    """Lines of a top-level function, with helpers for globals, sizes and dispatches."""

    def __init__(self) -> None:
        self.lines: list[str] = ["  %zero = arith.constant 0 : index", "  %one = arith.constant 1 : index"]
        self.values: dict[str, str] = {}
        self.lengths: dict[str, str] = {}
        self._counter = 0

    def fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"%{prefix}{self._counter}"

    def add(self, line: str) -> None:
        self.lines.append("  " + line)

    def tensor_argument(self, name: str, element: str) -> None:
        self.values[name] = f"%{name}"
        self.lengths[name] = f"%{name}_length"
        self.add(f"%{name}_length = tensor.dim %{name}, %zero : tensor<?x{element}>")

    def load_arenas(self, layout: TableLayout) -> None:
        for element in layout.elements:
            name = arena_name(element)
            value, length = f"%g_{name}", f"%g_{name}_length"
            self.add(f"{value} = util.global.load @{name} : tensor<?x{element}>")
            self.add(f"{length} = tensor.dim {value}, %zero : tensor<?x{element}>")
            self.values[name], self.lengths[name] = value, length

    def index_scalar(self, name: str, integer_argument: str) -> None:
        """Makes an i32 function argument available to dispatches as an index operand."""
        self.values[name] = f"%{name}_index"
        self.add(f"%{name}_index = arith.index_cast {integer_argument} : i32 to index")

    def affine_size(self, name: str, base: str, scale: int, offset: int) -> str:
        """`scale * base + offset` as a new index value."""
        scale_value, offset_value = self.fresh("scale"), self.fresh("offset")
        product, result = self.fresh("product"), f"%{name}"
        self.add(f"{scale_value} = arith.constant {scale} : index")
        self.add(f"{offset_value} = arith.constant {offset} : index")
        self.add(f"{product} = arith.muli {base}, {scale_value} : index")
        self.add(f"{result} = arith.addi {product}, {offset_value} : index")
        return result

    def dispatch(self, result: str, builder: DispatchBuilder) -> None:
        for line in builder.emit(result, self.values, self.lengths):
            self.add(line)

    def read_count(self, name: str, tensor: str, element: str) -> str:
        """Reads element 0 of a small result tensor back as an index."""
        raw, result = self.fresh("raw"), f"%{name}"
        self.add(f"{raw} = tensor.extract {tensor}[%zero] : tensor<?x{element}>")
        self.add(f"{result} = arith.index_cast {raw} : {element} to index")
        return result

    def keep_alive(self, values: Sequence[tuple[str, str]]) -> None:
        """Keeps scratch outputs: IREE would otherwise turn an unused result into a stack buffer."""
        if values:
            names = ", ".join(value for value, _ in values)
            types = ", ".join(type_ for _, type_ in values)
            self.add(f"{self.fresh('kept')}:{len(values)} = util.optimization_barrier {names} : {types}"
                     if len(values) > 1 else
                     f"{self.fresh('kept')} = util.optimization_barrier {names} : {types}")

    def slice_prefix(self, name: str, tensor: str, element: str, length: str) -> str:
        result = f"%{name}"
        self.add(f"{result} = tensor.extract_slice {tensor}[0] [{length}] [1] : "
                 f"tensor<?x{element}> to tensor<?x{element}>")
        return result


def function(name: str, arguments: str, results: str, body: FunctionBody, returned: str) -> list[str]:
    return [f"func.func @{name}({arguments}) -> {results} {{"] + body.lines + [f"  return {returned}", "}"]


def two_pass_decode_function(
    layout: TableLayout,
    decode_pass: Callable[[DispatchBuilder, bool], None],
    skip_special_argument: bool,
) -> list[str]:
    """`decode(ids, skip_special) -> bytes` in two dispatches of `decode_pass`: the first (write=False)
    only counts the output bytes into `total`, the second (write=True) writes them into `bytes` sized
    from that count. With `skip_special_argument` the i32 flag reaches the dispatches as the index
    operand `skip_special`; without it the argument is accepted and unused."""
    body = FunctionBody()
    body.tensor_argument("ids", "i32")
    body.load_arenas(layout)
    inputs = [DispatchOperand("ids", "i32")] + layout.operands()
    if skip_special_argument:
        body.index_scalar("skip_special", "%skip_special")
        inputs = [DispatchOperand("skip_special", None)] + inputs
    measure = DispatchBuilder(inputs, [DispatchOutput("total", "i64", "%one")])
    decode_pass(measure, False)
    body.dispatch("%measured", measure)
    total = body.read_count("byte_total", "%measured", "i64")
    body.add("%byte_capacity = arith.maxsi %byte_total, %one : index")
    copy = DispatchBuilder(inputs, [DispatchOutput("bytes", "i8", "%byte_capacity")])
    decode_pass(copy, True)
    body.dispatch("%copied", copy)
    result = body.slice_prefix("decoded", "%copied", "i8", total)
    flag = "%skip_special" if skip_special_argument else "%unused"
    return function("decode", f"%ids: tensor<?xi32>, {flag}: i32", "tensor<?xi8>", body,
                    f"{result} : tensor<?xi8>")
