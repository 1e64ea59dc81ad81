"""The GPU check's weights: the parameter list read from an export's MLIR and the random IRPA.

The tiny Qwen2 export's own IRPA is the reference: every parameter the MLIR names must be in it
with the byte size of the shape and dtype read, and the random archive must hold the same names and
sizes, identically on every write.
"""

import os
from pathlib import Path

import iree.runtime
import numpy as np

from tests.gpu.parameter_spec import parameter_spec
from tests.gpu.random_parameters import write_random_parameters

MLIR = Path(os.environ["TINY_QWEN2_MLIR"])
IRPA = Path("tests/tiny_models/tiny_qwen2_cuda/model.irpa")
BYTES = {"f32": 4, "f16": 2, "bf16": 2}


def entry_sizes(path: Path) -> dict[str, int]:
    index = iree.runtime.ParameterIndex()
    index.load(str(path))
    return {key: len(np.asarray(entry.file_view)) for key, entry in index.items()}


def test_spec_matches_the_exported_weights() -> None:
    spec = parameter_spec(MLIR.read_text())
    assert {entry["scope"] for entry in spec} == {"model"}
    exported = entry_sizes(IRPA)
    assert {entry["name"] for entry in spec} <= set(exported)
    for entry in spec:
        assert exported[entry["name"]] == int(np.prod(entry["shape"])) * BYTES[entry["dtype"]], entry


def test_random_weights_have_the_spec_sizes_and_are_reproducible(tmp_path: Path) -> None:
    spec = parameter_spec(MLIR.read_text())
    first, second = tmp_path / "a.irpa", tmp_path / "b.irpa"
    write_random_parameters(spec, first, seed=5)
    write_random_parameters(spec, second, seed=5)
    assert first.read_bytes() == second.read_bytes()
    sizes = entry_sizes(first)
    assert sizes == {entry["name"]: int(np.prod(entry["shape"])) * BYTES[entry["dtype"]] for entry in spec}
