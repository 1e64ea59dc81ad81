"""Deterministic random MLIR programs over arith/math/scf/tensor/linalg, as training candidates.

Each program is a module with one (sometimes two) public entry functions and optional private
helpers, built from random fragments in the shapes IREE front ends produce: scalar integer and float
arithmetic chains, math ops, `scf.for` loops with `iter_args`, `scf.if` on computed conditions,
`tensor.empty` + `linalg.generic` elementwise chains, reductions, `linalg.fill`/`linalg.matmul`,
`linalg.transpose`, `tensor.extract_slice`/`insert_slice`, `tensor.collapse_shape`/`expand_shape`,
`tensor.extract` and `arith.constant` tensors. At a random per-program rate (zero for some programs,
where the search then finds little or nothing) it injects the redundancy that passlib's allow-listed
passes remove: duplicated subexpressions and fragments (cse), identities such as x*1, x+0, x|0,
x&-1, x*1.0, x-0.0 (canonicalize), constants computed from constants, dead values, loop-invariant
code inside loops (loop-invariant-code-motion, then cse with a copy after the loop), conditions that
are constant or decided by integer ranges (canonicalize, iree-util-optimize-int-arithmetic), double
negations, transposes and reshapes that cancel, exact cast round trips, unused linalg operands,
calls to private helpers with constant arguments (inline, iree-util-ipo) and private helpers that
nothing calls (symbol-dce).

Why: passlib's search labels these modules (best pipeline, rewritten functions) to make fine-tuning
data. This generator is separate from, and shares no text with, the evaluation task sets
(passlib/eval_tasks, passlib/eval_tasks_hard): its programs are random compositions, so the training
data is disjoint from the evaluation sets by construction.

Valid by construction: every function takes and returns only signless integers, f32 or static
tensors of them (what passlib.equivalence can make inputs for); no dynamic shapes, memrefs or side
effects; integer division, remainder and shifts only by safe constants, float-to-integer conversion
only of bounded values; a function holds at most MAX_OPS operations. Shaped by what IREE 3.8
compiles: scf.for, scf.if and arith.select carry only scalars (tensor-carrying ones often fail in
iree-compile or crash it), a function that reads tensor elements (tensor.extract, of its arguments)
has no scf ops, and an scf op's operands depend on every scalar argument that the op uses (else
passlib's execution-check wrapper does not compile): see _Function.TENSOR_CONTROL_FLOW and
_Function.arg_deps. The same seed always gives the same text (one `random.Random` per program, its
seed drawn from `random.Random(seed)`), and `generate(s, n)` is a prefix of `generate(s, m)` for
n <= m.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
import re
from collections.abc import Callable, Iterator, Sequence

from passlib.training_data.candidate import Candidate

KIND = "random-program"
SMALL_KIND = "small-program"
MAX_OPS = 120  # operations in one function, nested ones and terminators included
_FINISH_RESERVE = 10  # operations kept back for folding leftovers into the results and the return
_MAX_HELPER_OPS = 45
# Small programs: one entry function of a few operations with redundancy in most of them, the size of
# the simple transformations users ask for (and of passlib/eval_tasks). Large programs alone give
# rewrite pairs whose prompts mostly do not fit the embedded model's context.
_SMALL_MAX_OPS = 24
_SMALL_TARGET_OPS = (2, 10)
_SMALL_NOISE = (0.15, 0.25, 0.35, 0.5)
_SMALL_FLAVORS = ("scalar", "scalar", "loops", "linalg", "mixed")
_MAX_HELPERS = 3
_MAX_ELEMENTS = 256

_INT_WIDTH = {"i8": 8, "i16": 16, "i32": 32, "i64": 64}
_FLOAT_CONSTANTS = (0.5, 2.0, 0.25, 1.5, 3.0, -1.0, -0.5, 0.125, 4.0, -2.0)
_ENTRY_NAMES = ("main", "forward", "predict", "compute", "run", "step", "apply", "evaluate")
_HELPER_NAMES = ("scale", "combine", "activation", "mix", "update", "project", "residual", "clamp",
                 "normalize", "accumulate", "blend", "shift")
_NAME_TOKEN = re.compile(r"%[\w$.\-]+")


@dataclasses.dataclass(frozen=True)
class Type:
    """A scalar (shape None) or static ranked tensor type over one element type."""

    elem: str
    shape: tuple[int, ...] | None = None

    def __str__(self) -> str:
        if self.shape is None:
            return self.elem
        return "tensor<" + "".join(f"{d}x" for d in self.shape) + self.elem + ">"

    @property
    def is_tensor(self) -> bool:
        return self.shape is not None

    @property
    def is_float(self) -> bool:
        return self.elem in ("f32", "f64")

    @property
    def is_int(self) -> bool:
        return self.elem in _INT_WIDTH

    @property
    def rank(self) -> int:
        return len(self.shape) if self.shape is not None else 0

    @property
    def width(self) -> int:
        return _INT_WIDTH[self.elem]

    @property
    def scalar(self) -> Type:
        return Type(self.elem)

    def with_elem(self, elem: str) -> Type:
        return Type(elem, self.shape)

    def with_shape(self, shape: Sequence[int]) -> Type:
        return Type(self.elem, tuple(shape))


INDEX = Type("index")
I1 = Type("i1")


@dataclasses.dataclass(frozen=True)
class Value:
    """An SSA value: its name as written (%3, %arg0, %5#1) and its type."""

    name: str
    type: Type

    def __str__(self) -> str:
        return self.name


def _elements(shape: Sequence[int]) -> int:
    count = 1
    for d in shape:
        count *= d
    return count


def _float_text(value: float) -> str:
    return f"{value:.6e}"


def _scalar_text(value: float | int, elem: str) -> str:
    return _float_text(float(value)) if elem in ("f32", "f64") else str(int(value))


def _dense_text(ty: Type, value: float | int | list) -> str:
    def nested(values: list, shape: tuple[int, ...]) -> str:
        if len(shape) == 1:
            return "[" + ", ".join(_scalar_text(v, ty.elem) for v in values) + "]"
        step = len(values) // shape[0]
        return "[" + ", ".join(nested(values[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])) + "]"

    if isinstance(value, list):
        return f"dense<{nested(value, ty.shape)}>"
    return f"dense<{_scalar_text(value, ty.elem)}>"


class _Program:
    """Module-level state: the random stream, the style, affine map aliases and the functions."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.maps: dict[str, str] = {}  # affine_map text -> alias
        self.helpers: list[_Function] = []  # private, in creation order
        self.entries: list[_Function] = []
        self.symbols: set[str] = set()
        self.noise = rng.choice((0.0, 0.0, 0.08, 0.15, 0.25, 0.35))
        self.flavor = rng.choice(("scalar", "loops", "linalg", "linalg", "mixed", "mixed"))
        self.dims = sorted(rng.sample((2, 3, 4, 5, 6, 8, 16), 3))
        self.int_type = rng.choices(("i32", "i64", "i8", "i16"), (6, 2, 2, 1))[0]
        self.tensor_elems = sorted(set(rng.sample(("f32", "f32", "i32", "i32", "i8", "i64"), rng.randint(1, 2))))

    def map_alias(self, loops: int, results: Sequence[int] | None) -> str:
        """The alias of affine_map<(d0, ..) -> (results)>; results None means the identity."""
        dims = ", ".join(f"d{i}" for i in range(loops))
        chosen = range(loops) if results is None else results
        text = f"affine_map<({dims}) -> ({', '.join(f'd{i}' for i in chosen)})>"
        if text not in self.maps:
            self.maps[text] = "#map" if not self.maps else f"#map{len(self.maps)}"
        return self.maps[text]

    def symbol(self, stem: str) -> str:
        name, suffix = stem, 0
        while name in self.symbols:
            suffix += 1
            name = f"{stem}_{suffix}"
        self.symbols.add(name)
        return name

    def tensor_type(self, elem: str | None = None, rank: int | None = None) -> Type:
        rng = self.rng
        elem = elem or rng.choice(self.tensor_elems)
        rank = rank or rng.choices((1, 2, 3), (3, 5, 1))[0]
        while True:
            shape = [rng.choice(self.dims) for _ in range(rank)]
            if rank == 3:
                shape[0] = 2
            if _elements(shape) <= _MAX_ELEMENTS:
                return Type(elem, tuple(shape))

    def scalar_type(self) -> Type:
        return Type(self.rng.choice((self.int_type, self.int_type, "f32")))

    def arg_types(self) -> list[Type]:
        """The arguments of an entry function, in the program's style."""
        rng = self.rng
        if self.flavor == "scalar":
            return [self.scalar_type() for _ in range(rng.randint(1, 4))]
        if self.flavor == "linalg":
            types = [self.tensor_type() for _ in range(rng.randint(1, 3))]
            if rng.random() < 0.3:  # operands for a matmul
                m, k, n = (rng.choice(self.dims) for _ in range(3))
                elem = rng.choice(("f32", "i32"))
                types = [Type(elem, (m, k)), Type(elem, (k, n))] + types[:1]
            if rng.random() < 0.25:
                types.append(self.scalar_type())
            return types
        return [self.tensor_type() if rng.random() < 0.5 else self.scalar_type()
                for _ in range(rng.randint(1, 4))]

    def new_helper(self, types: Sequence[Type], control_flow: bool) -> _Function | None:
        """A private function over `types` with one result (scf ops only with `control_flow`), or
        None when there are enough."""
        if len(self.helpers) >= _MAX_HELPERS:
            return None
        helper = _Function(self, self.symbol(self.rng.choice(_HELPER_NAMES)), False, types,
                           _MAX_HELPER_OPS, allow_calls=False, reads_elements=False, control_flow=control_flow)
        self.helpers.append(helper)
        helper.build(self.rng.randint(3, 24), max_results=1)
        return helper

    def text(self) -> str:
        parts = [f"{alias} = {text}\n" for text, alias in self.maps.items()]
        parts.append("module {\n")
        parts.extend(f.text() for f in self.helpers + self.entries)
        parts.append("}\n")
        return "".join(parts)


@dataclasses.dataclass
class _Mark:
    """Where a function stood before a fragment: enough to roll it back or to replay it."""

    lines: int
    ops: int
    defined: int
    pool: list[Value]
    cache: dict
    used: set[str]
    helpers: int
    maps: int
    symbols: set[str]


class _Function:
    """One func.func under construction: its lines, names, operation count and available values."""

    FRAGMENTS = ("scalar", "tensor_arith", "generic_chain", "convert", "select", "if", "loop", "extract",
                 "fill", "reduce", "matmul", "transpose", "slice", "reshape", "call", "dead")
    WEIGHTS = {
        "scalar": (6, 0, 0, 2, 3, 2, 2, 0, 0, 0, 0, 0, 0, 0, 2, 1),
        "loops": (3, 2, 1, 1, 1, 2, 6, 1, 0, 0, 0, 0, 0, 0, 1, 1),
        "linalg": (1, 2, 6, 1, 1, 1, 1, 1, 1, 2, 2, 1, 2, 2, 1, 1),
        "mixed": (3, 2, 3, 2, 2, 2, 3, 1, 1, 1, 1, 1, 1, 1, 2, 1),
    }
    # IREE 3.8 fails to compile (or crashes on) many modules where scf ops or arith.select carry
    # tensors, or where scalars read from tensors (tensor.extract) meet scf ops: the generator keeps
    # scf.for/scf.if/select on scalars (True lifts that), and a function either reads tensor elements
    # (of its arguments only) or has scf ops.
    TENSOR_CONTROL_FLOW = False
    HELPER_FRAGMENTS = ("scalar", "tensor_arith", "generic_chain", "convert", "select", "loop", "reduce",
                        "transpose", "dead")

    def __init__(self, program: _Program, name: str, public: bool, arg_types: Sequence[Type],
                 max_ops: int, allow_calls: bool, reads_elements: bool | None = None,
                 control_flow: bool = True) -> None:
        self.p = program
        self.rng = program.rng
        self.noise = program.noise
        self.name = name
        self.public = public
        self.max_ops = max_ops
        self.allow_calls = allow_calls
        self.called = False
        self.lines: list[str] = []
        self.depth = 2
        self.taken: set[str] = set()
        self.counter = 0
        self.arg_counter = 0
        self.defined: list[tuple[str, str | None]] = []
        self.ops = 0
        self.used: set[str] = set()
        self.cache: dict = {}
        self.args = [Value(self.fresh("arg"), t) for t in arg_types]
        # The scalar arguments each value depends on (see arg_deps).
        self.deps: dict[str, frozenset[int]] = {
            a.name: frozenset([i]) for i, a in enumerate(self.args) if not a.type.is_tensor}
        self.pool: list[Value] = list(self.args)
        self.results: list[Value] = []
        # Whether this function reads tensor elements; if so it has no scf.for/scf.if (see
        # TENSOR_CONTROL_FLOW), nor do the helpers it calls.
        if reads_elements is None:
            reads_elements = self.rng.random() < 0.25 and any(a.type.is_tensor for a in self.args)
        self.reads_elements = reads_elements
        self.control_flow = control_flow and not reads_elements

    # --- names, lines, scopes ----------------------------------------------------------------------

    def fresh(self, hint: str | None = None) -> str:
        """A new SSA name: %N, %argN, or the hint with a suffix as MLIR's printer makes them."""
        if hint is None:
            name = f"%{self.counter}"
            self.counter += 1
        elif hint == "arg":
            name = f"%arg{self.arg_counter}"
            self.arg_counter += 1
        else:
            name, suffix = f"%{hint}", 0
            while name in self.taken:
                name = f"%{hint}_{suffix}"
                suffix += 1
        self.taken.add(name)
        self.defined.append((name, hint))
        return name

    def emit(self, line: str, counts: bool = True, depth: int | None = None) -> None:
        self.lines.append("  " * (self.depth if depth is None else depth) + line)
        if counts:
            self.ops += 1

    def op(self, text: str, ty: Type, hint: str | None = None) -> Value:
        value = Value(self.fresh(hint), ty)
        self.emit(f"{value} = {text}")
        self.deps[value.name] = frozenset().union(*(self.arg_deps(name) for name in _NAME_TOKEN.findall(text)))
        return value

    def arg_deps(self, value: Value | str) -> frozenset[int]:
        """The scalar arguments `value` depends on.

        IREE 3.8 fails to compile passlib's execution-check wrapper (which reads scalar arguments out of
        0-d tensors) when an scf op uses, as operand or from above, values that depend on scalar
        arguments none of its operands depends on all of: so an scf.for's init and an scf.if's
        condition here depend on every argument that anything the op uses depends on.
        """
        return self.deps.get(str(value).partition("#")[0], frozenset())

    def chance(self, scale: float = 1.0) -> bool:
        """True at the program's redundancy rate times `scale` (never for clean programs)."""
        return self.rng.random() < self.noise * scale

    def room(self) -> int:
        return self.max_ops - _FINISH_RESERVE - self.ops

    @contextlib.contextmanager
    def region(self) -> Iterator[None]:
        """A nested region: values and constants made inside are not visible after it."""
        saved = (list(self.pool), dict(self.cache))
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
            self.pool, self.cache = saved

    def mark(self) -> _Mark:
        return _Mark(len(self.lines), self.ops, len(self.defined), list(self.pool), dict(self.cache),
                     set(self.used), len(self.p.helpers), len(self.p.maps), set(self.p.symbols))

    def rollback(self, mark: _Mark) -> None:
        del self.lines[mark.lines:]
        for name, _ in self.defined[mark.defined:]:
            self.taken.discard(name)
            self.deps.pop(name, None)
        del self.defined[mark.defined:]
        self.counter = sum(1 for _, hint in self.defined if hint is None)
        self.arg_counter = sum(1 for _, hint in self.defined if hint == "arg")
        self.ops, self.pool, self.cache, self.used = mark.ops, mark.pool, mark.cache, mark.used
        del self.p.helpers[mark.helpers:]
        for text in list(self.p.maps)[mark.maps:]:
            del self.p.maps[text]
        self.p.symbols = mark.symbols

    def replay(self, start: _Mark, result: Value, end: _Mark | None = None, shift: int = 0) -> Value:
        """Emits the lines from `start` (to `end`, else to now) once more with fresh names, `shift`
        levels deeper (negative: shallower); returns the copy of `result`."""
        end_lines = len(self.lines) if end is None else end.lines
        end_defined = len(self.defined) if end is None else end.defined
        end_ops = self.ops if end is None else end.ops
        renamed = {name: self.fresh(hint) for name, hint in self.defined[start.defined:end_defined]}
        for old, new in renamed.items():
            if old in self.deps:
                self.deps[new] = self.deps[old]
        for line in self.lines[start.lines:end_lines]:
            line = "  " * shift + line if shift >= 0 else line[-2 * shift:]
            self.lines.append(_NAME_TOKEN.sub(lambda m: renamed.get(m.group(0), m.group(0)), line))
        self.ops += end_ops - start.ops
        base, _, tail = result.name.partition("#")
        return Value(renamed.get(base, base) + ("#" + tail if tail else ""), result.type)

    # --- the value pool ------------------------------------------------------------------------------

    def add(self, value: Value) -> Value:
        if value.type.elem not in ("i1", "index", "f64"):
            self.pool.append(value)
        return value

    def unused(self) -> list[Value]:
        return [v for v in self.pool if v.name not in self.used]

    def get(self, ty: Type) -> Value:
        """A value of type `ty`: preferably one not used yet, else any, else a constant."""
        candidates = [v for v in self.pool if v.type == ty]
        if candidates:
            fresh = [v for v in candidates if v.name not in self.used]
            value = self.rng.choice(fresh if fresh and self.rng.random() < 0.8 else candidates)
            self.used.add(value.name)
            return value
        return self.random_constant(ty)

    def pick_type(self, accept: Callable[[Type], bool]) -> Type | None:
        """The type of a pool value that `accept` likes, unused values first; None if there is none."""
        fresh = [v.type for v in self.unused() if accept(v.type)]
        every = [v.type for v in self.pool if accept(v.type)]
        if fresh and (self.rng.random() < 0.8 or not every):
            return self.rng.choice(fresh)
        return self.rng.choice(every) if every else None

    # --- constants -----------------------------------------------------------------------------------

    def const(self, ty: Type, value: float | int | list) -> Value:
        """A constant of `ty` (dense for tensors); an existing one is reused unless noisy."""
        key = (ty, repr(value))
        if key in self.cache and not self.chance(0.3):
            return self.cache[key]
        if not isinstance(value, list) and ty != INDEX and self.chance(0.2):
            constant = self.folded_const(ty, value)
        else:
            constant = self.raw_const(ty, value)
        self.cache[key] = constant
        return constant

    def raw_const(self, ty: Type, value: float | int | list) -> Value:
        if ty.is_tensor:
            return self.op(f"arith.constant {_dense_text(ty, value)} : {ty}", ty, "cst")
        if ty == INDEX:
            return self.op(f"arith.constant {int(value)} : index", ty, f"c{int(value)}")
        if ty.is_float:
            return self.op(f"arith.constant {_float_text(float(value))} : {ty}", ty, "cst")
        return self.op(f"arith.constant {int(value)} : {ty}", ty, f"c{int(value)}_{ty.elem}")

    def folded_const(self, ty: Type, value: float | int) -> Value:
        """`value` computed from two constants (what canonicalize folds)."""
        if ty.is_float:
            half = self.raw_const(ty, value * 0.5)
            two = self.raw_const(ty, 2.0)
            return self.op(f"arith.mulf {half}, {two} : {ty}", ty)
        part = self.rng.randint(1, 4)
        left = self.raw_const(ty, part)
        right = self.raw_const(ty, int(value) - part)
        return self.op(f"arith.addi {left}, {right} : {ty}", ty)

    def random_constant(self, ty: Type) -> Value:
        rng = self.rng
        if ty.is_tensor and _elements(ty.shape) <= 64 and rng.random() < 0.6:
            count = _elements(ty.shape)
            if ty.is_float:
                values = [rng.choice((-1.0, -0.5, 0.25, 0.5, 1.0, 1.5, 2.0)) for _ in range(count)]
            else:
                values = [rng.randint(-5, 5) for _ in range(count)]
            return self.const(ty, values)
        if ty.is_float:
            return self.const(ty, rng.choice(_FLOAT_CONSTANTS))
        return self.const(ty, rng.choice((2, 3, 5, 7, -3, 11)))

    def index(self, value: int) -> Value:
        return self.const(INDEX, value)

    def empty(self, ty: Type) -> Value:
        key = ("empty", ty)
        if key in self.cache and not self.chance(0.5):
            return self.cache[key]
        value = self.op(f"tensor.empty() : {ty}", ty)
        self.cache[key] = value
        return value

    # --- elementwise operations (on scalars or tensors: arith and math) -------------------------------

    def pure(self, text: str, ty: Type) -> Value:
        """A side-effect-free op; sometimes emitted twice, the copy left in the pool (cse)."""
        value = self.op(text, ty)
        if self.chance(0.15):
            self.add(self.op(text, ty))
        return value

    def unary(self, x: Value) -> Value:
        x = self.noisy(x)
        t, rng = x.type, self.rng
        if t.is_float:
            kind = rng.choice(("mulc", "addc", "subc", "divc", "neg", "abs", "tanh", "exp", "sqrt",
                               "log1p", "maxc", "minc", "mulc", "tanh"))
            if kind in ("tanh", "abs"):
                return self.pure(f"math.{'absf' if kind == 'abs' else 'tanh'} {x} : {t}", t)
            if kind == "neg":
                return self.pure(f"arith.negf {x} : {t}", t)
            if kind == "exp":  # of a bounded value
                y = self.pure(f"math.tanh {x} : {t}", t)
                return self.pure(f"math.exp {y} : {t}", t)
            if kind in ("sqrt", "log1p"):  # of a non-negative value
                y = self.pure(f"math.absf {x} : {t}", t)
                return self.pure(f"math.{kind} {y} : {t}", t)
            op = {"mulc": "mulf", "addc": "addf", "subc": "subf", "divc": "divf", "maxc": "maximumf",
                  "minc": "minimumf"}[kind]
            value = 0.0 if kind in ("maxc", "minc") and rng.random() < 0.5 else rng.choice(_FLOAT_CONSTANTS)
            return self.pure(f"arith.{op} {x}, {self.const(t, value)} : {t}", t)
        kind = rng.choice(("addi", "subi", "muli", "xori", "andi", "ori", "shli", "shrsi", "shrui",
                           "divsi", "remsi", "divui", "remui", "maxsi", "minsi", "neg", "addi", "muli"))
        if kind == "neg":
            return self.pure(f"arith.subi {self.const(t, 0)}, {x} : {t}", t)
        if kind in ("shli", "shrsi", "shrui"):
            value = rng.randint(1, min(7, t.width - 1))
        elif kind in ("divsi", "remsi", "divui", "remui"):
            value = rng.randint(2, 9)
        elif kind == "andi":
            value = rng.choice((1, 3, 7, 15, 63))
        else:
            value = rng.choice((2, 3, 5, 7, -3, -2, 9, 11))
        return self.pure(f"arith.{kind} {x}, {self.const(t, value)} : {t}", t)

    def binary(self, x: Value, y: Value) -> Value:
        t = x.type
        if x == y:  # no op that folds on equal operands
            op = self.rng.choice(("addf", "mulf") if t.is_float else ("addi", "muli"))
        elif t.is_float:
            op = self.rng.choice(("addf", "subf", "mulf", "maximumf", "minimumf", "addf"))
        else:
            op = self.rng.choice(("addi", "subi", "muli", "andi", "ori", "xori", "maxsi", "minsi",
                                  "maxui", "minui", "addi"))
        x, y = self.noisy(x), self.noisy(y)
        return self.pure(f"arith.{op} {x}, {y} : {t}", t)

    def combine(self, values: Sequence[Value]) -> Value:
        """One value computed from all `values` (of one type) with random elementwise ops."""
        acc = values[0]
        if len(values) == 1 or self.rng.random() < 0.4:
            acc = self.unary(acc)
        for value in values[1:]:
            if self.rng.random() < 0.3:
                value = self.unary(value)
            acc = self.binary(acc, value)
        if self.rng.random() < 0.3:
            acc = self.unary(acc)
        return acc

    def noisy(self, x: Value) -> Value:
        return self.redundant(x) if self.chance(0.35) else x

    def redundant(self, x: Value) -> Value:
        """A value equal to `x` through operations that the allowed passes remove."""
        t, rng = x.type, self.rng
        kinds = ["identity", "identity", "self", "negneg", "ext_trunc"]
        if t.is_int:
            kinds += ["xorxor", "addsub"]
        if t.is_tensor and t.rank == 2:
            kinds += ["transpose2", "reshape2"]
        if t.is_tensor:
            kinds += ["full_slice", "slice_back"]
        else:
            kinds += ["select_same"]
        kind = rng.choice(kinds)
        if kind == "ext_trunc" and t.is_int and t.width == 64:
            kind = "identity"
        if kind == "identity":
            if t.is_float:
                op, value = rng.choice((("mulf", 1.0), ("subf", 0.0), ("addf", -0.0), ("divf", 1.0)))
            else:
                op, value = rng.choice((("muli", 1), ("addi", 0), ("subi", 0), ("ori", 0), ("andi", -1),
                                        ("xori", 0), ("shli", 0), ("shrsi", 0), ("divsi", 1), ("divui", 1)))
            return self.op(f"arith.{op} {x}, {self.const(t, value)} : {t}", t)
        if kind == "self":
            op = rng.choice(("maximumf", "minimumf") if t.is_float else ("andi", "ori", "maxsi", "minsi"))
            return self.op(f"arith.{op} {x}, {x} : {t}", t)
        if kind == "negneg":
            if t.is_float:
                y = self.op(f"arith.negf {x} : {t}", t)
                return self.op(f"arith.negf {y} : {t}", t)
            zero = self.const(t, 0)
            y = self.op(f"arith.subi {zero}, {x} : {t}", t)
            return self.op(f"arith.subi {zero}, {y} : {t}", t)
        if kind in ("xorxor", "addsub"):
            c = self.const(t, rng.choice((1, 5, 6, 12)))
            first, second = ("xori", "xori") if kind == "xorxor" else ("addi", "subi")
            y = self.op(f"arith.{first} {x}, {c} : {t}", t)
            return self.op(f"arith.{second} {y}, {c} : {t}", t)
        if kind == "ext_trunc":
            if t.is_float:
                wide = t.with_elem("f64")
                y = self.op(f"arith.extf {x} : {t} to {wide}", wide)
                return self.op(f"arith.truncf {y} : {wide} to {t}", t)
            wide = t.with_elem(rng.choice([e for e, w in _INT_WIDTH.items() if w > t.width]))
            y = self.op(f"arith.{rng.choice(('extsi', 'extui'))} {x} : {t} to {wide}", wide)
            return self.op(f"arith.trunci {y} : {wide} to {t}", t)
        if kind == "select_same":
            c = self.const(t, 2 if t.is_int else 0.5)
            compare = "arith.cmpi slt" if t.is_int else "arith.cmpf olt"
            cond = self.op(f"{compare}, {x}, {c} : {t}", I1)
            return self.op(f"arith.select {cond}, {x}, {x} : {t}", t)
        if kind == "transpose2":
            return self.transpose(self.transpose(x, t.with_shape(t.shape[::-1])), t)
        if kind == "reshape2":
            flat = t.with_shape((_elements(t.shape),))
            y = self.op(f"tensor.collapse_shape {x} [[0, 1]] : {t} into {flat}", flat, "collapsed")
            return self.op(f"tensor.expand_shape {y} [[0, 1]] output_shape [{t.shape[0]}, {t.shape[1]}] : "
                           f"{flat} into {t}", t, "expanded")
        if kind == "full_slice":
            return self.extract_slice(x, [0] * t.rank, t.shape)
        offsets, sizes = self.random_window(t)
        return self.insert_slice(self.extract_slice(x, offsets, sizes), x, offsets)

    # --- tensor building blocks ----------------------------------------------------------------------

    def transpose(self, x: Value, out: Type) -> Value:
        init = self.empty(out)
        return self.op(f"linalg.transpose ins({x} : {x.type}) outs({init} : {out}) permutation = [1, 0]",
                       out, "transposed")

    def random_window(self, t: Type) -> tuple[list[int], list[int]]:
        """Offsets and sizes of a static slice of `t` smaller than `t`."""
        sizes = [self.rng.randint(1, d) for d in t.shape]
        if sizes == list(t.shape):
            axis = max(range(t.rank), key=lambda a: t.shape[a])
            sizes[axis] = max(1, sizes[axis] - 1)
        offsets = [self.rng.randint(0, d - s) for d, s in zip(t.shape, sizes)]
        return offsets, sizes

    def extract_slice(self, x: Value, offsets: Sequence[int], sizes: Sequence[int]) -> Value:
        out = x.type.with_shape(sizes)
        ones = ", ".join("1" for _ in sizes)
        return self.op(f"tensor.extract_slice {x}[{', '.join(map(str, offsets))}] [{', '.join(map(str, sizes))}] "
                       f"[{ones}] : {x.type} to {out}", out, "extracted_slice")

    def insert_slice(self, part: Value, into: Value, offsets: Sequence[int]) -> Value:
        sizes = part.type.shape
        ones = ", ".join("1" for _ in sizes)
        return self.op(f"tensor.insert_slice {part} into {into}[{', '.join(map(str, offsets))}] "
                       f"[{', '.join(map(str, sizes))}] [{ones}] : {part.type} into {into.type}",
                       into.type, "inserted_slice")

    def fill(self, scalar: Value, out: Type) -> Value:
        init = self.empty(out)
        return self.op(f"linalg.fill ins({scalar} : {scalar.type}) outs({init} : {out}) -> {out}", out)

    def extract(self, x: Value) -> Value:
        indices = ", ".join(str(self.index(self.rng.randrange(d))) for d in x.type.shape)
        return self.op(f"tensor.extract {x}[{indices}] : {x.type}", x.type.scalar, "extracted")

    def generic(self, ins: Sequence[tuple[Value, Sequence[int] | None]], out: Type,
                body: Callable[[list[Value], Value], Value], iterators: Sequence[str] | None = None,
                out_dims: Sequence[int] | None = None, init: Value | None = None) -> Value:
        """A linalg.generic over `ins`, each with its indexing map's results (None: identity)."""
        loops = len(iterators) if iterators else out.rank
        iterators = list(iterators or ["parallel"] * loops)
        maps = [self.p.map_alias(loops, dims) for _, dims in ins] + [self.p.map_alias(loops, out_dims)]
        init = init if init is not None else self.empty(out)
        operands = ", ".join(str(v) for v, _ in ins)
        types = ", ".join(str(v.type) for v, _ in ins)
        result = Value(self.fresh(), out)
        iterator_text = ", ".join(f'"{i}"' for i in iterators)
        self.emit(f"{result} = linalg.generic {{indexing_maps = [{', '.join(maps)}], iterator_types = "
                  f"[{iterator_text}]}} ins({operands} : {types}) outs({init} : {out}) {{")
        with self.region():
            block = [Value(self.fresh("in"), v.type.scalar) for v, _ in ins]
            out_arg = Value(self.fresh("out"), out.scalar)
            self.pool = []
            arguments = ", ".join(f"{v}: {v.type}" for v in block + [out_arg])
            self.emit(f"^bb0({arguments}):", counts=False, depth=self.depth - 1)
            value = body(block, out_arg)
            self.emit(f"linalg.yield {value} : {value.type}")
        self.emit(f"}} -> {out}", counts=False)
        return result

    def elementwise(self, values: Sequence[Value]) -> Value:
        """All `values` (of one type) combined: arith/math on tensors or one linalg.generic."""
        t = values[0].type
        linalg = {"linalg": 0.8, "mixed": 0.6}.get(self.p.flavor, 0.4)
        if t.is_tensor and self.rng.random() < linalg:
            ins = [(v, None) for v in values]
            if self.chance(0.3):  # an operand the body ignores
                ins.append((self.get(t), None))
            return self.generic(ins, t, lambda block, _: self.combine(block[:len(values)]))
        return self.combine(values)

    # --- fragments: each returns its result, True (nothing to keep) or False (does not apply) -------

    def frag_scalar(self) -> Value | bool:
        t = self.pick_type(lambda t: not t.is_tensor)
        if t is None:
            return False
        return self.combine([self.get(t) for _ in range(self.rng.randint(1, 3))])

    def frag_tensor_arith(self) -> Value | bool:
        t = self.pick_type(lambda t: t.is_tensor)
        if t is None:
            return False
        values = [self.get(t) for _ in range(self.rng.randint(1, 3))]
        if self.rng.random() < 0.3:
            values.append(self.random_constant(t))
        return self.elementwise(values)

    def frag_generic_chain(self) -> Value | bool:
        t = self.pick_type(lambda t: t.is_tensor)
        if t is None:
            return False
        current = self.get(t)
        for _ in range(self.rng.randint(1, 4)):
            if self.room() < 12:
                break
            ins: list[tuple[Value, Sequence[int] | None]] = [(current, None)]
            extra = self.rng.random()
            if extra < 0.3:
                ins.append((self.get(t), None))
            elif extra < 0.45 and t.rank >= 2:  # a broadcast row
                ins.append((self.get(t.with_shape((t.shape[-1],))), (t.rank - 1,)))
            elif extra < 0.6:  # a scalar operand
                ins.append((self.get(t.scalar), ()))
            used = len(ins)
            if self.chance(0.3):  # an operand the body ignores
                ins.append((self.get(t), None))
            current = self.generic(ins, t, lambda block, _, used=used: self.combine(block[:used]))
        return current

    def frag_convert(self) -> Value | bool:
        t = self.pick_type(lambda t: t.elem in ("i8", "i16", "i32", "f32"))
        if t is None:
            return False
        x = self.get(t)
        rng = self.rng
        if t.is_float:
            # fptosi only of a bounded value: tanh(x) * 50 fits each integer type used here.
            target = t.with_elem(rng.choice(("i32", "i32", "i8", "i16")))
            squashed = self.pure(f"math.tanh {x} : {t}", t)
            scaled = self.pure(f"arith.mulf {squashed}, {self.const(t, 50.0)} : {t}", t)
            return self.op(f"arith.fptosi {scaled} : {t} to {target}", target)
        if rng.random() < 0.5:
            target = t.with_elem("f32")
            return self.op(f"arith.{rng.choice(('sitofp', 'uitofp'))} {x} : {t} to {target}", target)
        wide = t.with_elem(rng.choice([e for e, w in _INT_WIDTH.items() if w > t.width]))
        y = self.op(f"arith.{rng.choice(('extsi', 'extui'))} {x} : {t} to {wide}", wide)
        return self.op(f"arith.trunci {self.unary(y)} : {wide} to {t}", t)

    def condition(self, x: Value | None = None, y: Value | None = None) -> Value:
        """An i1 comparing `x` and `y` (by default pool scalars or a tensor element); sometimes decided
        in advance. It depends on every argument that `x` and `y` depend on."""
        rng = self.rng
        if x is None:
            t = self.pick_type(lambda t: not t.is_tensor)
            if t is None:
                sources = [a for a in self.args if a.type.is_tensor] if self.reads_elements else []
                source = self.rng.choice(sources) if sources else None
                x = self.extract(source) if source is not None else self.get(self.p.scalar_type())
            else:
                x = self.get(t)
        t = x.type
        if self.chance(0.5):
            if t.is_int and rng.random() < 0.5:  # decided by integer range analysis
                mask = rng.choice((3, 7, 15))
                joined = x if y is None or y == x else self.binary(x, y)
                low = self.op(f"arith.andi {joined}, {self.const(t, mask)} : {t}", t)
                return self.op(f"arith.cmpi ult, {low}, {self.const(t, mask + 1)} : {t}", I1)
            a, b = self.raw_const(t, 3 if t.is_int else 1.5), self.raw_const(t, 5 if t.is_int else 2.5)
            compare = "arith.cmpi slt" if t.is_int else "arith.cmpf olt"
            return self.op(f"{compare}, {a}, {b} : {t}", I1)
        if y is None:
            y = self.get(t) if rng.random() < 0.6 else self.random_constant(t)
        if y == x:
            y = self.random_constant(t)
        if t.is_int:
            pred = rng.choice(("slt", "sle", "sgt", "sge", "eq", "ne", "ult", "ugt"))
            return self.pure(f"arith.cmpi {pred}, {x}, {y} : {t}", I1)
        pred = rng.choice(("olt", "ole", "ogt", "oge", "one", "oeq"))
        return self.pure(f"arith.cmpf {pred}, {x}, {y} : {t}", I1)

    def frag_select(self) -> Value | bool:
        t = self.pick_type(lambda t: self.TENSOR_CONTROL_FLOW or not t.is_tensor)
        if t is None:
            return False
        a, b = self.get(t), self.get(t)
        cond = self.condition()
        if a == b:
            b = self.unary(b)
        return self.op(f"arith.select {cond}, {a}, {b} : {t}", t)

    def frag_if(self) -> Value | bool:
        t = self.pick_type(lambda t: self.TENSOR_CONTROL_FLOW or not t.is_tensor)
        if t is None or self.room() < 14 or not self.control_flow:
            return False
        a, b = self.get(t), self.get(t)
        cond = self.condition(a, b)
        shared = None
        if self.chance(0.5):  # computed before the if and again inside it (cse)
            start = self.mark()
            shared = self.unary(a)
            end = self.mark()
            self.add(shared)
        result = Value(self.fresh(), t)
        self.deps[result.name] = self.arg_deps(cond) | self.arg_deps(a) | self.arg_deps(b)
        self.emit(f"{result} = scf.if {cond} -> ({t}) {{")
        with self.region():
            then = self.replay(start, shared, end, 1) if shared is not None else self.unary(a)
            if self.rng.random() < 0.4 and a != b:
                then = self.binary(then, b)
            self.emit(f"scf.yield {then} : {t}")
        self.emit("} else {", counts=False)
        with self.region():
            other = self.elementwise([a, b]) if a != b else self.unary(b)
            self.emit(f"scf.yield {other} : {t}")
        self.emit("}", counts=False)
        return result

    def frag_loop(self) -> Value | bool:
        rng = self.rng
        t = self.pick_type(lambda t: not t.is_tensor or (self.TENSOR_CONTROL_FLOW and _elements(t.shape) <= 128))
        if t is None or self.room() < 16 or not self.control_flow:
            return False
        init = self.get(t)
        invariants = [self.get(t) for _ in range(rng.randint(1, 2))]
        extra = self.get(t) if self.chance(0.2) else None  # an iter_arg yielded unchanged
        for other in invariants + ([extra] if extra is not None else []):
            if not self.arg_deps(other) <= self.arg_deps(init):
                init = self.binary(init, other)  # see arg_deps
        trips = rng.randint(2, 6)
        if self.chance(0.15):
            trips = rng.choice((0, 1))  # a loop that canonicalize removes or inlines
        step = rng.choice((1, 1, 1, 2))
        lb, ub, st = self.index(0), self.index(trips * step), self.index(step)
        inside = self.chance(1.5)  # loop-invariant code left in the body
        hoisted = None if inside else self.combine(invariants)
        result = self.fresh()
        iv, acc = Value(self.fresh("arg"), INDEX), Value(self.fresh("arg"), t)
        carried = [(acc, init)]
        if extra is not None:
            carried.append((Value(self.fresh("arg"), t), extra))
        header = ", ".join(f"{a} = {v}" for a, v in carried)
        types = ", ".join(str(t) for _ in carried)
        name = result if len(carried) == 1 else f"{result}:{len(carried)}"
        self.deps[result] = self.arg_deps(init)
        self.emit(f"{name} = scf.for {iv} = {lb} to {ub} step {st} iter_args({header}) -> ({types}) {{")
        outside = None
        with self.region():
            if hoisted is None:
                start = self.mark()
                hoisted = self.combine(invariants)
                if self.chance(1.0):
                    outside = (start, hoisted, self.mark())
            value = self.elementwise([acc, hoisted]) if t.is_tensor else self.binary(acc, hoisted)
            if not t.is_tensor and rng.random() < 0.5:  # the induction variable
                if t.is_int:
                    counter = self.op(f"arith.index_cast {iv} : index to {t}", t)
                else:
                    as_int = self.op(f"arith.index_cast {iv} : index to i32", Type("i32"))
                    counter = self.op(f"arith.sitofp {as_int} : i32 to {t}", t)
                value = self.binary(value, counter)
            yields = [value] + [a for a, _ in carried[1:]]
            self.emit(f"scf.yield {', '.join(str(v) for v in yields)} : {types}")
        self.emit("}", counts=False)
        if outside is not None:
            # The invariant once more after the loop: cse merges it with the hoisted copy.
            start, value, end = outside
            self.add(self.replay(start, value, end, -1))
        return Value(f"{result}#0", t) if len(carried) > 1 else Value(result, t)

    def frag_extract(self) -> Value | bool:
        sources = [a for a in self.args if a.type.is_tensor]
        if not sources or not self.reads_elements:
            return False
        return self.extract(self.rng.choice(sources))

    def frag_fill(self) -> Value | bool:
        t = self.pick_type(lambda t: not t.is_tensor and t.elem in self.p.tensor_elems)
        if t is None:
            return False
        out = self.p.tensor_type(t.elem)
        filled = self.fill(self.get(t), out)
        others = [v for v in self.pool if v.type == out]
        if others:
            return self.elementwise([filled, self.get(out)])
        return filled

    def frag_reduce(self) -> Value | bool:
        t = self.pick_type(lambda t: t.is_tensor and t.rank >= 2)
        if t is None:
            return False
        x = self.get(t)
        rng = self.rng
        axis = rng.choice((t.rank - 1, 0))
        kept = [i for i in range(t.rank) if i != axis]
        out = t.with_shape([t.shape[i] for i in kept])
        if t.is_float:
            op, start = rng.choice((("addf", 0.0), ("addf", 0.0), ("maximumf", -1.0e30)))
        else:
            op, start = rng.choice((("addi", 0), ("addi", 0), ("maxsi", -100), ("xori", 0)))
        init = self.fill(self.const(t.scalar, start), out)
        iterators = ["reduction" if i == axis else "parallel" for i in range(t.rank)]

        def body(block: list[Value], acc: Value) -> Value:
            value = self.unary(block[0]) if rng.random() < 0.5 else block[0]
            return self.op(f"arith.{op} {value}, {acc} : {acc.type}", acc.type)

        return self.generic([(x, None)], out, body, iterators, out_dims=kept, init=init)

    def frag_matmul(self) -> Value | bool:
        t = self.pick_type(lambda t: t.is_tensor and t.rank == 2 and t.elem in ("f32", "i32"))
        if t is None:
            return False
        m, k = t.shape
        a = self.get(t)
        rhs = [v.type for v in self.pool if v.type.rank == 2 and v.type.elem == t.elem and v.type.shape[0] == k]
        b = self.get(self.rng.choice(rhs) if rhs else t.with_shape((k, self.rng.choice(self.p.dims))))
        out = t.with_shape((m, b.type.shape[1]))
        init = self.fill(self.const(t.scalar, 0.0 if t.is_float else 0), out)
        return self.op(f"linalg.matmul ins({a}, {b} : {a.type}, {b.type}) outs({init} : {out}) -> {out}", out)

    def frag_transpose(self) -> Value | bool:
        t = self.pick_type(lambda t: t.is_tensor and t.rank == 2)
        if t is None:
            return False
        x = self.get(t)
        out = t.with_shape(t.shape[::-1])
        if self.rng.random() < 0.5:
            return self.transpose(x, out)
        return self.generic([(x, (1, 0))], out, lambda block, _: block[0])

    def frag_slice(self) -> Value | bool:
        t = self.pick_type(lambda t: t.is_tensor and max(t.shape) > 1)
        if t is None:
            return False
        x = self.get(t)
        offsets, sizes = self.random_window(t)
        part = self.extract_slice(x, offsets, sizes)
        if self.chance(0.5):  # the same slice twice (cse)
            changed = self.elementwise([part, self.extract_slice(x, offsets, sizes)])
        else:
            changed = self.elementwise([part])
        target = self.get(t) if self.rng.random() < 0.3 else x
        return self.insert_slice(changed, target, offsets)

    def frag_reshape(self) -> Value | bool:
        t = self.pick_type(lambda t: t.is_tensor)
        if t is None:
            return False
        x = self.get(t)
        if t.rank == 1:
            size = t.shape[0]
            splits = [d for d in (2, 3, 4, 8) if size % d == 0 and size // d > 1]
            if not splits:
                return False
            a = self.rng.choice(splits)
            out = t.with_shape((a, size // a))
            return self.op(f"tensor.expand_shape {x} [[0, 1]] output_shape [{a}, {size // a}] : {t} into {out}",
                           out, "expanded")
        if t.rank == 2:
            out = t.with_shape((_elements(t.shape),))
            groups = "[[0, 1]]"
        else:
            out = t.with_shape((t.shape[0] * t.shape[1], t.shape[2]))
            groups = "[[0, 1], [2]]"
        flat = self.op(f"tensor.collapse_shape {x} {groups} : {t} into {out}", out, "collapsed")
        if self.rng.random() < 0.5:
            return flat
        flat = self.elementwise([flat])
        shape = ", ".join(map(str, t.shape))
        return self.op(f"tensor.expand_shape {flat} {groups} output_shape [{shape}] : {out} into {t}", t,
                       "expanded")

    def frag_call(self) -> Value | bool:
        if not self.allow_calls or self.room() < 6:
            return False
        rng = self.rng
        reusable = [h for h in self.p.helpers if h.called and not (self.reads_elements and h.control_flow)]
        if reusable and rng.random() < 0.4:
            helper = rng.choice(reusable)
        else:
            types = []
            for _ in range(rng.randint(1, 3)):
                t = self.pick_type(lambda t: True)
                types.append(t if t is not None else self.p.scalar_type())
            helper = self.p.new_helper(types, control_flow=not self.reads_elements)
            if helper is None:
                return False
        helper.called = True
        constant_args = self.chance(1.0)  # inlining (or iree-util-ipo) then folds the call
        args = [self.random_constant(a.type) if constant_args and rng.random() < 0.7 else self.get(a.type)
                for a in helper.args]
        result_type = helper.results[0].type
        signature = f"({', '.join(str(a.type) for a in helper.args)}) -> {result_type}"
        call = f"call @{helper.name}({', '.join(str(a) for a in args)}) : {signature}"
        value = self.op(call, result_type)
        if self.chance(0.3):  # the same call twice: cse after inlining
            self.add(self.op(call, result_type))
        return value

    def frag_dead(self) -> Value | bool:
        """Values computed and never used (their inputs stay available to later fragments)."""
        t = self.pick_type(lambda t: True)
        if t is None:
            return False
        saved = set(self.used)
        self.combine([self.get(t) for _ in range(self.rng.randint(1, 2))])
        self.used = saved
        return True

    # --- the function as a whole ---------------------------------------------------------------------

    def build(self, target_ops: int, max_results: int = 3) -> None:
        """Adds random fragments until about `target_ops` operations, then the return."""
        rng = self.rng
        names = list(self.FRAGMENTS)
        weights = list(self.WEIGHTS[self.p.flavor])
        if not self.public:
            weights = [w + 1 if n in self.HELPER_FRAGMENTS else 0 for n, w in zip(names, weights)]
        if self.noise == 0.0:
            weights[names.index("dead")] = 0
        failures = 0
        while self.ops < target_ops and failures < 12:
            name = rng.choices(names, weights)[0]
            start = self.mark()
            produced = getattr(self, f"frag_{name}")()
            if produced is False or self.ops > self.max_ops - _FINISH_RESERVE:
                self.rollback(start)
                failures += 1
                continue
            if isinstance(produced, Value):
                self.add(produced)
                if self.chance(0.15) and 2 * self.ops - start.ops <= self.max_ops - _FINISH_RESERVE:
                    self.add(self.replay(start, produced))  # the whole fragment twice (cse)
        self.finish(max_results)

    def finish(self, max_results: int) -> None:
        """Returns unused values (up to `max_results`); others are folded into them while room lasts."""
        leftovers = [v for v in self.unused() if v not in self.args]
        if not leftovers:
            leftovers = [v for v in self.pool if v not in self.args][-1:] or self.args[:1]
        wanted = self.rng.randint(1, max_results)
        results: list[Value] = []
        for value in reversed(leftovers):
            same = next((i for i, r in enumerate(results) if r.type == value.type), None)
            if len(results) < wanted or (same is None and len(results) < max_results):
                results.append(value)
            elif same is not None and self.ops < self.max_ops - 1:
                results[same] = self.merge(results[same], value)
        for arg in self.args:
            same = next((i for i, r in enumerate(results) if r.type == arg.type), None)
            if arg.name not in self.used and same is not None and self.ops < self.max_ops - 1:
                results[same] = self.merge(results[same], arg)
        self.results = results
        self.emit(f"return {', '.join(str(r) for r in results)} : {', '.join(str(r.type) for r in results)}")

    def merge(self, x: Value, y: Value) -> Value:
        op = "addf" if x.type.is_float else self.rng.choice(("addi", "xori"))
        return self.op(f"arith.{op} {x}, {y} : {x.type}", x.type)

    def text(self) -> str:
        visibility = "" if self.public else "private "
        args = ", ".join(f"{a}: {a.type}" for a in self.args)
        results = ", ".join(str(r.type) for r in self.results)
        if len(self.results) != 1:
            results = f"({results})"
        return (f"  func.func {visibility}@{self.name}({args}) -> {results} {{\n"
                + "".join(line + "\n" for line in self.lines) + "  }\n")


def program_text(seed: int) -> str:
    """The module text of one random program."""
    rng = random.Random(seed)
    program = _Program(rng)
    names = ["main"] if rng.random() < 0.6 else [rng.choice(_ENTRY_NAMES)]
    if rng.random() < 0.12:
        names.append(rng.choice([n for n in _ENTRY_NAMES if n not in names]))
    for name in names:
        entry = _Function(program, program.symbol(name), True, program.arg_types(), MAX_OPS, allow_calls=True)
        program.entries.append(entry)
        entry.build(rng.randint(12, 100))
    if rng.random() < program.noise and len(program.helpers) < _MAX_HELPERS:
        program.new_helper([program.scalar_type() for _ in range(rng.randint(1, 2))], True)  # never called
    return program.text()


def small_program_text(seed: int) -> str:
    """The module text of one small random program: one entry function of _SMALL_TARGET_OPS
    operations (helpers it calls included), redundant at a rate from _SMALL_NOISE."""
    rng = random.Random(seed)
    program = _Program(rng)
    program.noise = rng.choice(_SMALL_NOISE)
    program.flavor = rng.choice(_SMALL_FLAVORS)
    name = "main" if rng.random() < 0.4 else rng.choice(_ENTRY_NAMES)
    entry = _Function(program, program.symbol(name), True, program.arg_types(), _SMALL_MAX_OPS, allow_calls=True)
    program.entries.append(entry)
    entry.build(rng.randint(*_SMALL_TARGET_OPS))
    return program.text()


def generate(seed: int, count: int) -> list[Candidate]:
    """`count` random programs for `seed`, named program-0000, program-0001, ..."""
    streams = random.Random(seed)
    return [Candidate(f"program-{index:04d}", KIND, program_text(streams.getrandbits(64)))
            for index in range(count)]


def generate_small(seed: int, count: int) -> list[Candidate]:
    """`count` small random programs for `seed`, named small-0000, small-0001, ...; their stream is
    not generate()'s, so adding small programs changes none of the large ones."""
    streams = random.Random(f"small-programs:{seed}")
    return [Candidate(f"small-{index:04d}", SMALL_KIND, small_program_text(streams.getrandbits(64)))
            for index in range(count)]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="small programs (generate_small)")
    options = parser.parse_args(argv)
    for candidate in (generate_small if options.small else generate)(options.seed, options.count):
        print(f"// {candidate.name} ({candidate.kind})\n{candidate.module_text}")


if __name__ == "__main__":
    main()
