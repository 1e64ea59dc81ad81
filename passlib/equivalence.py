"""Behavioural equivalence of two versions of a function, as compiled and run by IREE.

Both versions are compiled with `iree-compile` for llvm-cpu and run on the same generated inputs in
child processes with timeouts (some valid modules crash IREE). Each function is called through a
generated wrapper whose arguments and results are all tensors, which avoids IREE 3.8's scalar
quirks (f32 scalars arrive as 0.0, numpy scalars are refused). Integer results must match exactly,
floating-point ones within a tolerance. "Equivalent" means "equivalent as compiled by this IREE":
scalar integer code does not always keep wrap-on-overflow, so both sides are compared after
compilation, never against a Python model of MLIR.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pathlib
import sys
import tempfile

import numpy as np
from iree.compiler import ir as mlir
from iree.compiler.dialects import arith
from iree.compiler.dialects import func as func_dialect
from iree.compiler.dialects import tensor
from iree.compiler.tools import binaries

from passlib import ir, sandbox
from toolchains import iree_targets

EQUIVALENT = "equivalent"
MISMATCH = "mismatch"
CRASH = "crash"
TIMEOUT = "timeout"
COMPILE_ERROR = "compile_error"
SKIPPED = "skipped"
PROBE_PREFIX = "__passlib_probe_"
_ERROR_TAIL_CHARACTERS = 1500
_SHOWN_VALUES = 8

_NUMPY_INTEGERS = {1: np.bool_, 8: np.int8, 16: np.int16, 32: np.int32, 64: np.int64}
_NUMPY_FLOATS = {"f16": np.float16, "f32": np.float32, "f64": np.float64}


@dataclasses.dataclass(frozen=True)
class EquivalenceOptions:
    """How to compile, run and compare."""

    trials: int = 3
    rtol: float = 1e-4
    atol: float = 1e-5
    compile_timeout_s: float = 120.0
    run_timeout_s: float = 30.0
    dynamic_dim_size: int = 4
    compile_flags: tuple[str, ...] = tuple(iree_targets.compile_flags("llvm-cpu-generic"))


@dataclasses.dataclass(frozen=True)
class EquivalenceResult:
    """The verdict (one of the module constants) and the evidence, in words."""

    status: str
    detail: str
    trials: int = 0


class UnsupportedSignature(ValueError):
    """A function whose arguments or results cannot be generated or passed to IREE."""


class _VersionFailed(Exception):
    """Compiling or running one version failed; `status` is COMPILE_ERROR, CRASH or TIMEOUT."""

    def __init__(self, status: str, detail: str) -> None:
        self.status = status
        self.detail = detail
        super().__init__(f"{status}: {detail}")


def _dtype_of(element: mlir.Type) -> type:
    if mlir.IntegerType.isinstance(element):
        integer = mlir.IntegerType(element)
        if integer.is_signless and integer.width in _NUMPY_INTEGERS:
            return _NUMPY_INTEGERS[integer.width]
    elif str(element) in _NUMPY_FLOATS:
        return _NUMPY_FLOATS[str(element)]
    elif mlir.IndexType.isinstance(element):
        return np.int64
    raise UnsupportedSignature(f"element type {element} cannot be generated")


@dataclasses.dataclass(frozen=True)
class _Port:
    """One argument or result: its MLIR type and how it crosses the ABI (as a tensor)."""

    type: mlir.Type
    boundary: mlir.Type
    scalar: bool


def _port(value_type: mlir.Type, context: mlir.Context) -> _Port:
    with context, mlir.Location.unknown(context):
        if mlir.RankedTensorType.isinstance(value_type):
            _dtype_of(mlir.RankedTensorType(value_type).element_type)
            return _Port(value_type, value_type, False)
        if mlir.ShapedType.isinstance(value_type) or not (
            mlir.IntegerType.isinstance(value_type)
            or mlir.IndexType.isinstance(value_type)
            or str(value_type) in _NUMPY_FLOATS
        ):
            raise UnsupportedSignature(f"type {value_type} cannot be passed to IREE from Python")
        _dtype_of(value_type)
        element = mlir.IntegerType.get_signless(64) if mlir.IndexType.isinstance(value_type) else value_type
        return _Port(value_type, mlir.RankedTensorType.get([], element), True)


def add_probe(unit: mlir.Operation, name: str) -> tuple[str, list[_Port], list[_Port]]:
    """Adds a public wrapper `@__passlib_probe_<name>` taking and returning only tensors.

    Scalars cross as 0-d tensors (index as i64); the wrapper's results are the function's results
    followed by its own arguments. Returns the wrapper's name and the argument and result ports.
    Raises UnsupportedSignature for types that cannot be generated or passed.
    """
    function = ir.find_function(unit, name)
    if function is None:
        raise KeyError(f"no function @{name} in the unit")
    kind = ir.function_type(function)
    context = unit.operation.context
    inputs = [_port(t, context) for t in kind.inputs]
    outputs = [_port(t, context) for t in kind.results]
    probe_name = PROBE_PREFIX + name
    with context, mlir.Location.unknown(context):
        # Every argument is also returned as is: IREE 3.8 crashes (SIGSEGV) at run time on some
        # exported functions that leave a tensor argument unused.
        probe_type = mlir.FunctionType.get(
            [p.boundary for p in inputs], [p.boundary for p in outputs] + [p.boundary for p in inputs])
        body = unit.operation.regions[0].blocks[0]
        probe = func_dialect.FuncOp(probe_name, probe_type, ip=mlir.InsertionPoint(body))
        entry = probe.add_entry_block()
        with mlir.InsertionPoint(entry):
            arguments = []
            for argument, port in zip(entry.arguments, inputs):
                value = argument
                if port.scalar:
                    value = tensor.extract(argument, [])
                    if mlir.IndexType.isinstance(port.type):
                        value = arith.index_cast(port.type, value)
                arguments.append(value)
            call = func_dialect.CallOp([p.type for p in outputs], name, arguments)
            results = []
            for result, port in zip(call.results, outputs):
                value = result
                if port.scalar:
                    if mlir.IndexType.isinstance(port.type):
                        value = arith.index_cast(mlir.RankedTensorType(port.boundary).element_type, value)
                    value = tensor.from_elements(port.boundary, [value])
                results.append(value)
            func_dialect.ReturnOp(results + list(entry.arguments))
    return probe_name, inputs, outputs


def _shape(port: _Port, options: EquivalenceOptions) -> list[int]:
    shaped = mlir.RankedTensorType(port.boundary)
    return [
        options.dynamic_dim_size if shaped.is_dynamic_dim(axis) else shaped.get_dim_size(axis)
        for axis in range(shaped.rank)
    ]


def _values(port: _Port, trial: int, rng: np.random.Generator, options: EquivalenceOptions) -> np.ndarray:
    """Inputs for one argument: small values first, then wider ranges (full range last)."""
    shape = _shape(port, options)
    dtype = _dtype_of(mlir.RankedTensorType(port.boundary).element_type)
    if mlir.IndexType.isinstance(port.type):
        values = rng.integers(0, options.dynamic_dim_size, size=shape)
    elif dtype is np.bool_:
        values = rng.integers(0, 2, size=shape).astype(np.bool_)
    elif np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        if trial == 0:
            values = rng.integers(1, 9, size=shape) * rng.choice([-1, 1], size=shape)
        elif trial == 1 or trial < options.trials - 1:
            values = rng.integers(max(info.min, -1000), min(info.max, 1000), size=shape, endpoint=True)
        else:
            values = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        scale = (1.0, 10.0, 100.0)[min(trial, 2)]
        values = rng.uniform(-scale, scale, size=shape)
    return np.asarray(np.asarray(values).astype(dtype), order="C")


def make_inputs(ports: list[_Port], options: EquivalenceOptions, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic inputs for every trial, named t<trial>_a<index>."""
    rng = np.random.default_rng(seed)
    return {
        f"t{trial}_a{index}": _values(port, trial, rng, options)
        for trial in range(options.trials)
        for index, port in enumerate(ports)
    }


def _tail(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _ERROR_TAIL_CHARACTERS else "..." + text[-_ERROR_TAIL_CHARACTERS:]


def _compile(unit: mlir.Operation, work: pathlib.Path, stem: str, options: EquivalenceOptions) -> pathlib.Path:
    source = work / f"{stem}.mlir"
    source.write_text(ir.print_ir(unit, generic=True))
    vmfb = work / f"{stem}.vmfb"
    command = [binaries.find_tool("iree-compile"), str(source), *options.compile_flags, "-o", str(vmfb)]
    completed = sandbox.run(command, limits=sandbox.Limits(timeout_s=options.compile_timeout_s))
    if isinstance(completed, sandbox.Crash):
        status = TIMEOUT if completed.timed_out else COMPILE_ERROR
        raise _VersionFailed(status, f"iree-compile {completed.reason}")
    if completed.returncode != 0:
        raise _VersionFailed(COMPILE_ERROR, f"iree-compile failed: {_tail(_text(completed.stderr))}")
    return vmfb


def _run(vmfb: pathlib.Path, probe: str, inputs: pathlib.Path, work: pathlib.Path, stem: str,
         options: EquivalenceOptions) -> dict[str, np.ndarray]:
    output = work / f"{stem}.results.npz"
    command = [sys.executable, "-m", "passlib.run_module", "--vmfb", str(vmfb), "--function", probe,
               "--inputs", str(inputs), "--trials", str(options.trials), "--output", str(output)]
    completed = sandbox.run(command, limits=sandbox.Limits(timeout_s=options.run_timeout_s))
    if isinstance(completed, sandbox.Crash):
        status = TIMEOUT if completed.timed_out else CRASH
        raise _VersionFailed(status, f"the process running it {completed.reason}")
    if completed.returncode != 0:
        raise _VersionFailed(CRASH, f"running it failed: {_tail(_text(completed.stderr))}")
    with np.load(output) as saved:
        return {name: saved[name] for name in saved.files}


def _text(output: bytes) -> str:
    return output.decode("utf-8", "replace")


def _show(array: np.ndarray) -> str:
    if array.ndim == 0:
        return str(array.item())
    flat = array.reshape(-1)
    shown = np.array2string(flat[:_SHOWN_VALUES], separator=", ")
    return shown if flat.size <= _SHOWN_VALUES else shown[:-1] + ", ...]"


def _compare(expected: dict[str, np.ndarray], actual: dict[str, np.ndarray], inputs: dict[str, np.ndarray],
             result_count: int, options: EquivalenceOptions) -> str | None:
    """Where the results differ, in words; None when every trial agrees."""
    for trial in range(options.trials):
        for index in range(result_count):
            name = f"t{trial}_r{index}"
            want, got = expected[name], actual[name]
            if want.shape != got.shape or want.dtype != got.dtype:
                return f"result {index} has shape {got.shape} {got.dtype}, expected {want.shape} {want.dtype}"
            if np.issubdtype(want.dtype, np.floating):
                same = np.isclose(got, want, rtol=options.rtol, atol=options.atol, equal_nan=True)
            else:
                same = got == want
            if not np.all(same):
                arguments = "; ".join(
                    f"%arg{position} = {_show(inputs[key])}"
                    for position, key in enumerate(k for k in inputs if k.startswith(f"t{trial}_a"))
                )
                return (f"result {index} differs for inputs {arguments}: the original gives "
                        f"{_show(want)}, the rewrite gives {_show(got)}")
    return None


class EquivalenceChecker:
    """Compares rewrites of functions with their originals; each original is compiled and run once."""

    def __init__(self, options: EquivalenceOptions | None = None) -> None:
        self.options = options or EquivalenceOptions()
        self._originals: dict[str, dict[str, np.ndarray] | _VersionFailed] = {}

    def _execute(self, unit: mlir.Operation, name: str, inputs: dict[str, np.ndarray],
                 stem: str) -> dict[str, np.ndarray]:
        """Compiles `unit` with a probe for `@name` and runs it on `inputs` in a child process."""
        probed = ir.clone_module(unit)
        probe, _, _ = add_probe(probed, name)
        with tempfile.TemporaryDirectory(prefix="passlib-equivalence-") as directory:
            work = pathlib.Path(directory)
            inputs_path = work / "inputs.npz"
            np.savez(inputs_path, **inputs)
            vmfb = _compile(probed, work, stem, self.options)
            return _run(vmfb, probe, inputs_path, work, stem, self.options)

    def check(self, original: mlir.Operation, candidate: mlir.Operation, name: str) -> EquivalenceResult:
        """Whether `@name` in `candidate` computes what it computes in `original`.

        Both are execution units (the function, its callees with bodies, referenced globals).
        """
        try:
            _, argument_ports, result_ports = add_probe(ir.clone_module(original), name)
        except UnsupportedSignature as error:
            return EquivalenceResult(SKIPPED, f"no inputs can be made for @{name}: {error}")
        if not result_ports:
            return EquivalenceResult(SKIPPED, f"@{name} has no results to compare")
        inputs = make_inputs(argument_ports, self.options)
        key = hashlib.sha256(ir.print_ir(original, generic=True).encode()).hexdigest() + "@" + name
        if key not in self._originals:
            try:
                self._originals[key] = self._execute(original, name, inputs, "original")
            except _VersionFailed as failure:
                self._originals[key] = failure
        expected = self._originals[key]
        if isinstance(expected, _VersionFailed):
            return EquivalenceResult(
                SKIPPED, f"the original cannot be run here ({expected.status}): {expected.detail}")
        try:
            actual = self._execute(candidate, name, inputs, "candidate")
        except _VersionFailed as failure:
            return EquivalenceResult(failure.status, failure.detail)
        difference = _compare(expected, actual, inputs, len(result_ports), self.options)
        if difference is not None:
            return EquivalenceResult(MISMATCH, difference, self.options.trials)
        return EquivalenceResult(EQUIVALENT, f"same results on {self.options.trials} input sets",
                                 self.options.trials)
