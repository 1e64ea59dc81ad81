"""Compiles a tokenizer MLIR module to a VMFB for the local CPU with the pinned IREE compiler.

Bazel builds compile through the `iree_vmfb` rule; this is for tests, the CLI and benchmarks.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from toolchains import iree_targets

CPU_FLAGS = tuple(iree_targets.compile_flags("llvm-cpu"))


def compile_mlir(mlir_text: str, vmfb_path: Path) -> None:
    """Writes the VMFB of `mlir_text` to `vmfb_path` (atomically)."""
    from iree.compiler import tools

    vmfb_path = Path(vmfb_path)
    handle, temporary = tempfile.mkstemp(dir=vmfb_path.parent, prefix=vmfb_path.name + ".", suffix=".tmp")
    os.close(handle)
    try:
        tools.compile_str(mlir_text, target_backends=[], extra_args=list(CPU_FLAGS), output_file=temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, vmfb_path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
