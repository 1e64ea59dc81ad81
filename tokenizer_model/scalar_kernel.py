"""A small Python builder that emits MLIR for sequential scalar kernels run inside one IREE dispatch.

Tokenization is sequential code (a regex scan, a merge loop over a priority structure, table
look-ups), not dense linear algebra. IREE compiles such code well when it sits inside a
`flow.dispatch.workgroups` region: `scf.while` / `scf.if` / `scf.for` over `index` scalars, with
`tensor.extract` / `tensor.insert` on 1-D tensors that bufferize in place to memref loads and
stores. Writing that MLIR by hand is error-prone (every loop must thread each updated variable
through block arguments and yields), so this module offers mutable variables on top of SSA:

    kernel = KernelBuilder()
    kernel.declare("total", 0)
    def body(i):
        kernel["total"] = kernel["total"] + kernel.load(data, i)
    kernel.for_range(0, length, body)

`while_loop`, `if_then` and `for_range` find the variables a region assigns (by emitting the
region once into a scratch buffer), carry exactly those through the region, and rebind them to
the region's results. Every scalar is an `index`; 1-bit conditions are `i1`. Tensors are 1-D
(`tensor<?xi8|i32|i64>`): `i8` elements read as unsigned bytes, `i32`/`i64` as signed.

`DispatchBuilder` wraps a kernel into a `flow.dispatch.workgroups` op: read-only tensor inputs,
`index` operands, and write-only outputs that the kernel fills (outputs double as scratch space).
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Iterable, Sequence

ELEMENT_TYPES = ("i8", "i32", "i64")


class Scalar:
    """An SSA value of type `index` or `i1`, with Python operators emitting `arith` ops."""

    def __init__(self, kernel: "KernelBuilder", name: str, type_: str) -> None:
        self.kernel = kernel
        self.name = name
        self.type = type_

    __hash__ = None  # type: ignore[assignment]  # `==` builds IR, so values are not hashable

    def _binary(self, op: str, other: "Scalar | int", reverse: bool = False) -> "Scalar":
        other_value = self.kernel.value(other, self.type)
        left, right = (other_value, self) if reverse else (self, other_value)
        return self.kernel.emit_value(f"arith.{op} {left.name}, {right.name} : {self.type}", self.type)

    def _compare(self, predicate: str, other: "Scalar | int") -> "Scalar":
        other_value = self.kernel.value(other, self.type)
        return self.kernel.emit_value(
            f"arith.cmpi {predicate}, {self.name}, {other_value.name} : {self.type}", "i1"
        )

    def __add__(self, other: "Scalar | int") -> "Scalar":
        return self._binary("addi", other)

    def __radd__(self, other: int) -> "Scalar":
        return self._binary("addi", other, reverse=True)

    def __sub__(self, other: "Scalar | int") -> "Scalar":
        return self._binary("subi", other)

    def __mul__(self, other: "Scalar | int") -> "Scalar":
        return self._binary("muli", other)

    def __floordiv__(self, other: "Scalar | int") -> "Scalar":
        """Division of non-negative values."""
        return self._binary("divui", other)

    def __mod__(self, other: "Scalar | int") -> "Scalar":
        """Remainder of non-negative values."""
        return self._binary("remui", other)

    def __and__(self, other: "Scalar | int") -> "Scalar":
        return self._binary("andi", other)

    def __or__(self, other: "Scalar | int") -> "Scalar":
        return self._binary("ori", other)

    def __ror__(self, other: int) -> "Scalar":
        return self._binary("ori", other, reverse=True)

    def __lshift__(self, other: "Scalar | int") -> "Scalar":
        return self._binary("shli", other)

    def __rshift__(self, other: "Scalar | int") -> "Scalar":
        """Logical shift right (values are treated as unsigned bit patterns)."""
        return self._binary("shrui", other)

    def __invert__(self) -> "Scalar":
        if self.type != "i1":
            raise TypeError("~ is only defined on i1 conditions")
        return self._binary("xori", 1)

    def __lt__(self, other: "Scalar | int") -> "Scalar":
        return self._compare("slt", other)

    def __le__(self, other: "Scalar | int") -> "Scalar":
        return self._compare("sle", other)

    def __gt__(self, other: "Scalar | int") -> "Scalar":
        return self._compare("sgt", other)

    def __ge__(self, other: "Scalar | int") -> "Scalar":
        return self._compare("sge", other)

    def __eq__(self, other: "Scalar | int") -> "Scalar":  # type: ignore[override]
        return self._compare("eq", other)

    def __ne__(self, other: "Scalar | int") -> "Scalar":  # type: ignore[override]
        return self._compare("ne", other)

    def __bool__(self) -> bool:
        raise TypeError("a kernel value has no Python truth value; use if_then/select")


@dataclasses.dataclass
class Tensor:
    """An SSA value of type `tensor<?x{element}>`."""

    name: str
    element: str

    @property
    def type(self) -> str:
        return f"tensor<?x{self.element}>"


@dataclasses.dataclass
class View:
    """Elements `base ...` of a tensor (or of the tensor variable named `source`): tables packed in
    one arena, or scratch areas of one output, without a binding (and its push constants) each."""

    source: "Tensor | str"
    base: Scalar


class KernelBuilder:
    """Emits the body of one dispatch: constants, mutable variables and structured control flow."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._constants: dict[tuple[int, str], Scalar] = {}
        self._constant_lines: list[str] = []
        self._variables: dict[str, Scalar | Tensor] = {}
        self._counter = 0
        self._depth = 1
        self._assignment_records: list[set[str]] = []
        self._views: dict[str, View] = {}

    # ----- values -----------------------------------------------------------------------------

    def fresh_name(self, prefix: str = "v") -> str:
        self._counter += 1
        return f"%{prefix}{self._counter}"

    def emit(self, line: str) -> None:
        self._lines.append("  " * self._depth + line)

    def emit_value(self, expression: str, type_: str) -> Scalar:
        name = self.fresh_name()
        self.emit(f"{name} = {expression}")
        return Scalar(self, name, type_)

    def constant(self, number: int, type_: str = "index") -> Scalar:
        """A constant, defined once at the top of the dispatch body."""
        key = (int(number), type_)
        if key not in self._constants:
            name = f"%c{'n' if number < 0 else ''}{abs(number)}_{type_}"
            if type_ == "i1":
                literal = "true" if number else "false"
            else:
                literal = f"{int(number)} : {type_}"
            self._constant_lines.append(f"{name} = arith.constant {literal}")
            self._constants[key] = Scalar(self, name, type_)
        return self._constants[key]

    def value(self, item: "Scalar | int | bool", type_: str = "index") -> Scalar:
        if isinstance(item, Scalar):
            if item.type != type_:
                raise TypeError(f"expected a {type_} value, got {item.type}")
            return item
        if isinstance(item, bool):
            return self.constant(int(item), "i1")
        return self.constant(int(item), type_)

    def select(self, condition: Scalar, if_true: "Scalar | int", if_false: "Scalar | int") -> Scalar:
        type_ = if_true.type if isinstance(if_true, Scalar) else (
            if_false.type if isinstance(if_false, Scalar) else "index")
        true_value = self.value(if_true, type_)
        false_value = self.value(if_false, type_)
        return self.emit_value(
            f"arith.select {condition.name}, {true_value.name}, {false_value.name} : {type_}", type_
        )

    def minimum(self, left: "Scalar | int", right: "Scalar | int") -> Scalar:
        left_value, right_value = self.value(left), self.value(right)
        return self.emit_value(f"arith.minsi {left_value.name}, {right_value.name} : index", "index")

    def maximum(self, left: "Scalar | int", right: "Scalar | int") -> Scalar:
        left_value, right_value = self.value(left), self.value(right)
        return self.emit_value(f"arith.maxsi {left_value.name}, {right_value.name} : index", "index")

    def logical_and(self, *conditions: Scalar) -> Scalar:
        result = conditions[0]
        for condition in conditions[1:]:
            result = result & condition
        return result

    def logical_or(self, *conditions: Scalar) -> Scalar:
        result = conditions[0]
        for condition in conditions[1:]:
            result = result | condition
        return result

    # ----- tensors ----------------------------------------------------------------------------

    def define_view(self, name: str, source: str, base: "Scalar | int") -> None:
        """Makes `load(name, i)` / `store(name, i, v)` address element `base + i` of variable `source`."""
        self._views[name] = View(source, self.value(base))

    def _resolve(self, tensor: "Tensor | View | str", index: "Scalar | int") -> tuple["Tensor | str", Scalar]:
        if isinstance(tensor, str) and tensor in self._views:
            tensor = self._views[tensor]
        if isinstance(tensor, View):
            return tensor.source, tensor.base + self.value(index)
        return tensor, self.value(index)

    def _tensor(self, tensor: "Tensor | str") -> Tensor:
        if isinstance(tensor, str):
            found = self._variables[tensor]
            if not isinstance(found, Tensor):
                raise TypeError(f"variable {tensor} is not a tensor")
            return found
        return tensor

    def load(self, tensor: "Tensor | View | str", index: "Scalar | int") -> Scalar:
        """Reads one element as an `index` (bytes zero-extended, wider integers sign-extended)."""
        resolved, position = self._resolve(tensor, index)
        source = self._tensor(resolved)
        raw = self.emit_value(f"tensor.extract {source.name}[{position.name}] : {source.type}", source.element)
        cast = "arith.index_castui" if source.element == "i8" else "arith.index_cast"
        return self.emit_value(f"{cast} {raw.name} : {source.element} to index", "index")

    def store(self, variable: "str | View", index: "Scalar | int", item: "Scalar | int") -> None:
        """Writes one element (truncating the `index` value) into the tensor variable."""
        resolved, position = self._resolve(variable, index)
        if not isinstance(resolved, str):
            raise TypeError("store() needs a tensor variable, not a read-only tensor")
        variable = resolved
        target = self._tensor(variable)
        scalar = self.value(item)
        narrowed = self.emit_value(f"arith.index_cast {scalar.name} : index to {target.element}", target.element)
        updated = self.fresh_name("t")
        self.emit(f"{updated} = tensor.insert {narrowed.name} into {target.name}[{position.name}] : {target.type}")
        self[variable] = Tensor(updated, target.element)

    # ----- variables --------------------------------------------------------------------------

    def declare(self, name: str, initial: "Scalar | Tensor | int | bool") -> None:
        if name in self._variables:
            raise ValueError(f"variable {name} is already declared")
        self._variables[name] = initial if isinstance(initial, (Scalar, Tensor)) else self.value(initial)
        for record in self._assignment_records:
            record.add(name)

    def __getitem__(self, name: str) -> Scalar:
        found = self._variables[name]
        if not isinstance(found, Scalar):
            raise TypeError(f"variable {name} is a tensor; use load()")
        return found

    def __setitem__(self, name: str, item: "Scalar | Tensor | int | bool") -> None:
        if name not in self._variables:
            raise KeyError(f"variable {name} is not declared")
        current = self._variables[name]
        if isinstance(current, Tensor):
            if not isinstance(item, Tensor):
                raise TypeError(f"variable {name} is a tensor")
            new_value: Scalar | Tensor = item
        else:
            new_value = self.value(item, current.type)  # type: ignore[arg-type]
        self._variables[name] = new_value
        for record in self._assignment_records:
            record.add(name)

    def tensor(self, name: str) -> Tensor:
        return self._tensor(name)

    # ----- structured control flow --------------------------------------------------------------

    def _assigned_by(self, *regions: Callable[[], object]) -> list[str]:
        """Names of pre-existing variables that the regions assign, found by a scratch emission."""
        saved_lines, saved_variables, saved_depth = self._lines, dict(self._variables), self._depth
        record: set[str] = set()
        self._assignment_records.append(record)
        try:
            for region in regions:
                self._lines = []
                self._variables = dict(saved_variables)
                region()
        finally:
            self._assignment_records.pop()
            self._lines, self._variables, self._depth = saved_lines, saved_variables, saved_depth
        return [name for name in saved_variables if name in record]

    def _bind(self, names: Sequence[str], values: Sequence[str]) -> None:
        for name, value_name in zip(names, values):
            current = self._variables[name]
            if isinstance(current, Tensor):
                self._variables[name] = Tensor(value_name, current.element)
            else:
                self._variables[name] = Scalar(self, value_name, current.type)

    def _types(self, names: Sequence[str]) -> list[str]:
        return [self._variables[name].type for name in names]

    def _current(self, names: Sequence[str]) -> list[str]:
        return [self._variables[name].name for name in names]

    def _result_names(self, count: int) -> tuple[str, list[str]]:
        base = self.fresh_name("r")
        if count == 1:
            return base, [base]
        return f"{base}:{count}", [f"{base}#{i}" for i in range(count)]

    def _leave_region(self, outer_names: Iterable[str]) -> None:
        """Drops variables declared inside a region."""
        keep = set(outer_names)
        self._variables = {name: value for name, value in self._variables.items() if name in keep}

    def while_loop(self, condition: Callable[[], Scalar], body: Callable[[], None]) -> None:
        """`while condition(): body()`; both callables may read and assign variables."""
        outer = list(self._variables)
        carried = self._assigned_by(condition, body)
        types = self._types(carried)
        type_list = ", ".join(types)
        result_head, results = self._result_names(len(carried))
        before = [self.fresh_name("a") for _ in carried]
        after = [self.fresh_name("b") for _ in carried]
        initial = self._current(carried)
        bindings = ", ".join(f"{b} = {i}" for b, i in zip(before, initial))
        prefix = f"{result_head} = " if carried else ""
        self.emit(f"{prefix}scf.while ({bindings}) : ({type_list}) -> ({type_list}) {{")
        self._depth += 1
        self._bind(carried, before)
        check = condition()
        forwarded = self._current(carried)
        if carried:
            self.emit(f"scf.condition({check.name}) {', '.join(forwarded)} : {type_list}")
        else:
            self.emit(f"scf.condition({check.name})")
        self._leave_region(outer)
        self._depth -= 1
        arguments = ", ".join(f"{a}: {t}" for a, t in zip(after, types))
        self.emit(f"}} do {{")
        self.emit(f"^bb0({arguments}):")
        self._depth += 1
        self._bind(carried, after)
        body()
        if carried:
            self.emit(f"scf.yield {', '.join(self._current(carried))} : {type_list}")
        else:
            self.emit("scf.yield")
        self._leave_region(outer)
        self._depth -= 1
        self.emit("}")
        self._bind(carried, results)

    def if_then(
        self,
        condition: Scalar,
        then_region: Callable[[], None],
        else_region: Callable[[], None] | None = None,
    ) -> None:
        """`if condition: then_region() else: else_region()`."""
        outer = list(self._variables)
        regions = [then_region] + ([else_region] if else_region else [])
        carried = self._assigned_by(*regions)
        types = self._types(carried)
        result_head, results = self._result_names(len(carried))
        initial = self._current(carried)
        if carried:
            self.emit(f"{result_head} = scf.if {condition.name} -> ({', '.join(types)}) {{")
        else:
            self.emit(f"scf.if {condition.name} {{")
        for index, region in enumerate([then_region, else_region]):
            if index == 1:
                if region is None and not carried:
                    break
                self.emit("} else {")
            self._depth += 1
            self._bind(carried, initial)
            if region is not None:
                region()
            if carried:
                self.emit(f"scf.yield {', '.join(self._current(carried))} : {', '.join(types)}")
            self._leave_region(outer)
            self._depth -= 1
        self.emit("}")
        self._bind(carried, results)

    def for_range(
        self, start: "Scalar | int", stop: "Scalar | int", body: Callable[[Scalar], None]
    ) -> None:
        """`for i in range(start, stop): body(i)` with step 1."""
        outer = list(self._variables)
        induction = Scalar(self, self.fresh_name("i"), "index")
        carried = self._assigned_by(lambda: body(induction))
        types = self._types(carried)
        result_head, results = self._result_names(len(carried))
        start_value, stop_value, one = self.value(start), self.value(stop), self.constant(1)
        iteration = [self.fresh_name("a") for _ in carried]
        header = f"scf.for {induction.name} = {start_value.name} to {stop_value.name} step {one.name}"
        if carried:
            bindings = ", ".join(f"{a} = {i}" for a, i in zip(iteration, self._current(carried)))
            self.emit(f"{result_head} = {header} iter_args({bindings}) -> ({', '.join(types)}) {{")
        else:
            self.emit(f"{header} {{")
        self._depth += 1
        self._bind(carried, iteration)
        body(induction)
        if carried:
            self.emit(f"scf.yield {', '.join(self._current(carried))} : {', '.join(types)}")
        self._leave_region(outer)
        self._depth -= 1
        self.emit("}")
        self._bind(carried, results)

    # ----- output -------------------------------------------------------------------------------

    def body_lines(self) -> list[str]:
        return ["  " + line for line in self._constant_lines] + self._lines


@dataclasses.dataclass
class DispatchOperand:
    """One operand of a dispatch: a read-only tensor (with its length) or an index scalar."""

    name: str
    element: str | None  # None for an index scalar


@dataclasses.dataclass
class DispatchOutput:
    """A write-only tensor output of a dispatch, `size` elements long (an outer SSA index name)."""

    name: str
    element: str
    size: str


class DispatchBuilder:
    """Emits a `flow.dispatch.workgroups` op whose body is one sequential kernel."""

    def __init__(self, inputs: Sequence[DispatchOperand], outputs: Sequence[DispatchOutput]) -> None:
        for operand in list(inputs) + list(outputs):
            if operand.element is not None and operand.element not in ELEMENT_TYPES:
                raise ValueError(f"unsupported element type {operand.element}")
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.kernel = KernelBuilder()
        self._input_values: dict[str, Scalar | Tensor] = {}
        self._region_arguments: list[str] = []
        self._prologue: list[str] = []
        kernel = self.kernel
        for operand in self.inputs:
            if operand.element is None:
                argument = f"%arg_{operand.name}"
                self._region_arguments.append(f"{argument}: index")
                self._input_values[operand.name] = Scalar(kernel, argument, "index")
        for operand in self.inputs:
            if operand.element is not None:
                binding = f"%binding_{operand.name}"
                length = f"%arg_{operand.name}_length"
                tensor_type = f"tensor<?x{operand.element}>"
                self._region_arguments.append(
                    f"{binding}: !iree_tensor_ext.dispatch.tensor<readonly:{tensor_type}>"
                )
                self._region_arguments.append(f"{length}: index")
                loaded = f"%in_{operand.name}"
                self._prologue.append(
                    f"{loaded} = iree_tensor_ext.dispatch.tensor.load {binding}, offsets = [0], "
                    f"sizes = [{length}], strides = [1] : "
                    f"!iree_tensor_ext.dispatch.tensor<readonly:{tensor_type}>{{{length}}} -> {tensor_type}"
                )
                self._input_values[operand.name] = Tensor(loaded, operand.element)
                self._input_values[operand.name + "_length"] = Scalar(kernel, length, "index")
        # Outputs of equal size share one size operand (each index operand costs two of the 64
        # push constants a dispatch may have).
        self._size_arguments: dict[str, str] = {}
        for output in self.outputs:
            if output.size not in self._size_arguments:
                argument = f"%arg_size{len(self._size_arguments)}"
                self._size_arguments[output.size] = argument
                self._region_arguments.append(f"{argument}: index")
            size = self._size_arguments[output.size]
            self._input_values[output.name + "_size"] = Scalar(kernel, size, "index")
            empty = f"%empty_{output.name}"
            self._prologue.append(f"{empty} = tensor.empty({size}) : tensor<?x{output.element}>")
            kernel.declare(output.name, Tensor(empty, output.element))
        for output in self.outputs:
            self._region_arguments.append(
                f"%binding_{output.name}: !iree_tensor_ext.dispatch.tensor<writeonly:tensor<?x{output.element}>>"
            )

    def input(self, name: str) -> "Scalar | Tensor":
        """The in-kernel value of an input (a Tensor, or `NAME_length` / `NAME_size` scalars)."""
        return self._input_values[name]

    def emit(self, result_name: str, outer_values: dict[str, str], outer_lengths: dict[str, str]) -> list[str]:
        """The dispatch op; `outer_values` names each input's SSA value outside the region."""
        operands: list[str] = []
        operand_types: list[str] = []
        for operand in self.inputs:
            if operand.element is None:
                operands.append(outer_values[operand.name])
                operand_types.append("index")
        for operand in self.inputs:
            if operand.element is not None:
                length = outer_lengths[operand.name]
                operands.extend([outer_values[operand.name], length])
                operand_types.extend([f"tensor<?x{operand.element}>{{{length}}}", "index"])
        for outer_size in self._size_arguments:
            operands.append(outer_size)
            operand_types.append("index")
        result_types = [f"tensor<?x{output.element}>{{{output.size}}}" for output in self.outputs]
        count = len(self.outputs)
        head = f"{result_name}:{count}" if count > 1 else result_name
        lines = [
            f"{head} = flow.dispatch.workgroups({', '.join(operands)}) : "
            f"({', '.join(operand_types)}) -> ({', '.join(result_types)}) =",
            f"    ({', '.join(self._region_arguments)}) {{",
        ]
        lines += ["  " + line for line in self._prologue]
        lines += self.kernel.body_lines()
        for output in self.outputs:
            value = self.kernel.tensor(output.name)
            size = self._size_arguments[output.size]
            tensor_type = f"tensor<?x{output.element}>"
            lines.append(
                f"  iree_tensor_ext.dispatch.tensor.store {value.name}, %binding_{output.name}, "
                f"offsets = [0], sizes = [{size}], strides = [1] : {tensor_type} -> "
                f"!iree_tensor_ext.dispatch.tensor<writeonly:{tensor_type}>{{{size}}}"
            )
        lines.append("  flow.return")
        lines.append("}")
        return lines
