"""Random weights with the names, shapes and dtypes of a parameter spec (parameter_spec.py), as IRPA.

The values come from one seeded generator, so the archive is the same on every machine and both
devices of the check read identical weights. Scales keep activations of order one through the layers:
norm weights 1, the token embedding N(0, 1), matrices N(0, 1/fan_in) (fan_in, the last dimension,
is what a [out, in] projection sums over), biases N(0, 0.02).
"""

from pathlib import Path

import iree.runtime
import ml_dtypes
import numpy as np

_DTYPES = {
    "f16": np.float16,
    "f32": np.float32,
    "bf16": ml_dtypes.bfloat16,
}


def random_array(rng: np.random.Generator, name: str, shape: list[int], dtype: str) -> np.ndarray:
    if dtype not in _DTYPES:
        raise ValueError(f"parameter {name!r}: dtype {dtype} has no random initializer (known: {sorted(_DTYPES)})")
    if "norm" in name:
        values = np.ones(shape, dtype=np.float32)
    elif name.endswith(".bias"):
        values = rng.normal(0.0, 0.02, size=shape).astype(np.float32)
    elif name.startswith("token_embd"):
        values = rng.standard_normal(size=shape, dtype=np.float32)
    else:
        values = rng.standard_normal(size=shape, dtype=np.float32) / np.float32(np.sqrt(shape[-1]))
    return np.ascontiguousarray(values.astype(_DTYPES[dtype]))


def write_random_parameters(spec: list[dict], path: Path, seed: int) -> None:
    """Writes an IRPA holding one random array per spec entry (a single parameter scope)."""
    scopes = {entry["scope"] for entry in spec}
    if len(scopes) != 1:
        raise ValueError(f"expected parameters of one scope, got {sorted(scopes)}")
    rng = np.random.default_rng(seed)
    entries = {
        entry["name"]: random_array(rng, entry["name"], entry["shape"], entry["dtype"]).reshape(-1).view(np.uint8)
        for entry in spec
    }
    iree.runtime.save_archive_file(entries, path)
