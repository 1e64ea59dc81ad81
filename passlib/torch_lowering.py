"""Exporting torch modules to MLIR with iree-turbine, at the torch dialect level and lowered to linalg.

Shared by the generators that make passlib's inputs from torch modules (the hard task set,
passlib/eval_tasks_hard/generate.py, and the training-data generator,
passlib/training_data/random_torch.py):

- `export_torch` exports a module with `iree.turbine.aot.export` and returns the torch-dialect text
  (parameters as `torch.vtensor.literal(dense_resource<...>)` blobs);
- `wrap_torch_boundary` gives that text builtin tensors at every function's boundary, with
  `torch_c.from_builtin_tensor` / `torch_c.to_builtin_tensor` casts inside, because passlib's
  equivalence check can make inputs for builtin tensors but not for `!torch.vtensor`;
- `lower_to_linalg` runs torch-mlir's conversions to linalg/tensor/arith (`LOWER_TO_LINALG`, without
  canonicalize or cse, so redundancy survives); when they leave dead torch list constants behind, it
  can erase just those (`erase_dead_torch_ops`) before the type conversions, and it falls back to
  torch-mlir's backend pipeline (`LOWER_TO_LINALG_CLEAN`, which canonicalizes) when nothing else works;
- `run_opt` runs a textual pass pipeline with `iree-opt`.

torch and iree-turbine are imported only by `export_torch`.
"""

from __future__ import annotations

import re
import subprocess

from iree.compiler.tools import binaries

from passlib import ir

# torch-mlir's conversions to linalg/tensor/arith, then its backend type conversions (builtin tensors
# at function boundaries, torch_c casts folded away).
_CONVERSIONS = (
    "func.func(torch-decompose-complex-ops,convert-torch-to-tmtensor,"
    "convert-torch-to-linalg,convert-torch-to-scf,convert-torch-to-arith,convert-torch-to-tensor)"
)
_BACKEND_TYPES = "torch-func-backend-type-conversion,func.func(torch-finalizing-backend-type-conversion)"
# Both without torch-mlir's canonicalize/cse, so redundancy is left in place. Fails when a conversion
# leaves dead torch list constants (reshape, view, layer_norm, softmax, cat, ...).
LOWER_TO_LINALG = f"builtin.module({_CONVERSIONS},{_BACKEND_TYPES})"
# torch-mlir's full backend pipeline (with canonicalization): for modules LOWER_TO_LINALG cannot
# convert, e.g. reshapes and views whose torch list constants only canonicalization removes.
LOWER_TO_LINALG_CLEAN = (
    "builtin.module(func.func(torch-decompose-complex-ops),torch-backend-to-linalg-on-tensors-backend-pipeline)"
)
RUN_OPT_TIMEOUT_SECONDS = 300

# How lower_to_linalg got its result.
DIRECT = "direct"  # LOWER_TO_LINALG
DEAD_TORCH_OPS_ERASED = "dead-torch-ops-erased"  # the conversions, dead torch ops erased, type conversions
BACKEND_PIPELINE = "backend-pipeline"  # LOWER_TO_LINALG_CLEAN (canonicalized: redundancy is gone)
# Side-effect free torch ops that the conversions leave behind dead (their users were converted).
_ERASABLE_WHEN_DEAD = ("torch.prim.ListConstruct", "torch_c.to_builtin_tensor", "torch_c.from_builtin_tensor")

_VTENSOR = re.compile(r"!torch\.vtensor<\[([^\]]*)\],(\w+)>")


def export_torch(module, args: tuple) -> str:
    """The torch-dialect MLIR text of `module` exported by iree-turbine for the example `args`."""
    from iree.turbine import aot

    exported = aot.export(module, args=args)
    return str(exported.mlir_module)


def builtin_tensor_type(torch_type: str) -> str:
    """`torch_type` with every static `!torch.vtensor<[d0,d1],dtype>` written as `tensor<d0xd1xdtype>`."""
    def convert(match: re.Match) -> str:
        dims = [d.strip() for d in match.group(1).split(",") if d.strip()]
        return "tensor<" + "".join(d + "x" for d in dims) + match.group(2) + ">"
    return _VTENSOR.sub(convert, torch_type)


def wrap_torch_boundary(text: str) -> str:
    """The torch-level export with builtin tensors at the public boundary (torch_c casts inside).

    Works on iree-turbine's printed form: one `func.func` header per line and one `return` per
    function, whose argument and result types are static `!torch.vtensor`s.
    """
    out = []
    for line in text.split("\n"):
        match = re.match(r"(\s*)func\.func @(\w+)\((.*)\) -> (.*?)( attributes .*)? \{$", line)
        if match:
            indent, name, arguments, results, _ = match.groups()
            pairs = re.findall(r"%([\w.]+): (!torch\.vtensor<\[[^\]]*\],\w+>)", arguments)
            new_arguments = ", ".join(f"%{a}_b: {builtin_tensor_type(t)}" for a, t in pairs)
            out.append(f"{indent}func.func @{name}({new_arguments}) -> {builtin_tensor_type(results)} {{")
            for a, t in pairs:
                out.append(f"{indent}  %{a} = torch_c.from_builtin_tensor %{a}_b : {builtin_tensor_type(t)} -> {t}")
            continue
        match = re.match(r"(\s*)return (.*?) : (.*)$", line)
        if match:
            indent, values, types = match.groups()
            names = [v.strip() for v in values.split(",")]
            torch_types = _VTENSOR.findall(types)
            torch_types = [f"!torch.vtensor<[{d}],{e}>" for d, e in torch_types]
            assert len(names) == len(torch_types), line
            converted = []
            for index, (v, t) in enumerate(zip(names, torch_types)):
                out.append(f"{indent}%ret{index}_b = torch_c.to_builtin_tensor {v} : {t} -> {builtin_tensor_type(t)}")
                converted.append(f"%ret{index}_b")
            out.append(f"{indent}return {', '.join(converted)} : "
                       f"{', '.join(builtin_tensor_type(t) for t in torch_types)}")
            continue
        out.append(line)
    return "\n".join(out)


def run_opt(text: str, pipeline: str) -> str:
    """`text` after `iree-opt --pass-pipeline=<pipeline>`; RuntimeError with stderr's tail on failure."""
    completed = subprocess.run([binaries.find_tool("iree-opt"), f"--pass-pipeline={pipeline}", "-"],
                               input=text, capture_output=True, text=True, check=False,
                               timeout=RUN_OPT_TIMEOUT_SECONDS)
    if completed.returncode != 0:
        raise RuntimeError(completed.stderr[-2000:])
    return completed.stdout


def erase_dead_torch_ops(text: str) -> str:
    """`text` without unused torch constants, torch list constructions and torch_c casts.

    Only those side-effect free operations are erased (nothing else is touched, so other redundancy
    stays): what torch-mlir's conversions leave dead when their users were converted, and what
    would otherwise need its canonicalizer before the backend type conversions.
    """
    module = ir.parse_module(text, ir.new_context(), "<torch conversion>")
    for function in ir.functions(module):
        for block in function.operation.regions[0].blocks:
            for op in reversed(list(block.operations)):  # users before the values they use
                op = op.operation
                erasable = op.name.startswith("torch.constant.") or op.name in _ERASABLE_WHEN_DEAD
                if erasable and all(not list(result.uses) for result in op.results):
                    op.erase()
    return ir.print_ir(module)


def lower_to_linalg(torch_text: str, erase_dead_torch_ops_first: bool = False) -> tuple[str, str]:
    """The torch-level export (unwrapped) lowered to linalg/tensor/arith, and how (DIRECT, ...).

    LOWER_TO_LINALG first; when it fails and `erase_dead_torch_ops_first`, the same conversions with
    dead torch ops erased before the type conversions (DEAD_TORCH_OPS_ERASED: still no canonicalize
    or cse); when that fails too, LOWER_TO_LINALG_CLEAN (BACKEND_PIPELINE). RuntimeError when none
    lowers the module.
    """
    try:
        return run_opt(torch_text, LOWER_TO_LINALG), DIRECT
    except RuntimeError:
        pass
    if erase_dead_torch_ops_first:
        try:
            converted = erase_dead_torch_ops(run_opt(torch_text, f"builtin.module({_CONVERSIONS})"))
            return run_opt(converted, f"builtin.module({_BACKEND_TYPES})"), DEAD_TORCH_OPS_ERASED
        except (RuntimeError, ir.IrError):
            pass
    return run_opt(torch_text, LOWER_TO_LINALG_CLEAN), BACKEND_PIPELINE
