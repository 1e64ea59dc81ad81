"""Tokenizer tables: building the shared layouts, and reading/writing them as an IRPA file.

An IRPA file (IREE parameter archive) holds one tensor per table, stored with dtype and shape
metadata (`iree.runtime.parameter_index_add_numpy_ndarray`), plus the entry `metadata`: UTF-8
JSON with the algorithm, the special tokens and other facts the host wrapper needs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from tokenizer_model.module_assembly import TableSpec

METADATA_KEY = "metadata"


class TokenizerSourceError(ValueError):
    """A tokenizer source that cannot be converted; the message names the file and the fix."""


@dataclasses.dataclass
class TokenizerTables:
    """Everything the compiled tokenizer needs for one vocabulary."""

    algorithm: str
    arrays: dict[str, np.ndarray]
    metadata: dict

    def check(self, specs: Sequence[TableSpec]) -> None:
        """Verifies that the arrays are exactly the tables of `specs`, with the right dtypes."""
        expected = [spec.name for spec in specs]
        if list(self.arrays) != expected:
            raise ValueError(f"tables {list(self.arrays)} do not match the module's {expected}")
        for spec in specs:
            array = self.arrays[spec.name]
            if array.dtype != spec.numpy_dtype or array.ndim != 1 or array.size == 0:
                raise ValueError(f"table {spec.name}: expected a non-empty 1-D {spec.numpy_dtype.__name__} array, "
                                 f"got {array.dtype} {array.shape}")


def write_irpa(tables: TokenizerTables, path: Path) -> None:
    """Writes the tables atomically (temporary file in the same directory, then rename)."""
    from iree import runtime

    index = runtime.ParameterIndex()
    metadata = dict(tables.metadata, algorithm=tables.algorithm, tables=list(tables.arrays))
    runtime.parameter_index_add_numpy_ndarray(
        index, METADATA_KEY, np.frombuffer(json.dumps(metadata, sort_keys=True).encode(), dtype=np.uint8))
    for name, array in tables.arrays.items():
        runtime.parameter_index_add_numpy_ndarray(index, name, np.ascontiguousarray(array))
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(handle)
    try:
        index.create_archive_file(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_irpa(path: Path) -> TokenizerTables:
    from iree import runtime

    index = runtime.ParameterIndex()
    try:
        index.load(str(path))
    except Exception as error:
        raise TokenizerSourceError(f"{path}: not a readable IRPA file ({error}); rebuild it with "
                                   "`python -m tokenizer_model.build`") from error
    entries = dict(index.items())
    if METADATA_KEY not in entries:
        raise TokenizerSourceError(f"{path}: no '{METADATA_KEY}' entry; this IRPA file was not written by "
                                   "tokenizer_model.build")
    metadata = json.loads(bytes(runtime.parameter_index_entry_as_numpy_ndarray(entries[METADATA_KEY])).decode())
    arrays = {name: np.array(runtime.parameter_index_entry_as_numpy_ndarray(entries[name]))
              for name in metadata.pop("tables")}
    return TokenizerTables(metadata.pop("algorithm"), arrays, metadata)


def non_empty(array: np.ndarray) -> np.ndarray:
    """Kernels index tables without bounds checks; an empty table gets one unused element."""
    return array if array.size else np.zeros(1, dtype=array.dtype)


def concatenated(strings: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(data, offsets): string i is data[offsets[i]:offsets[i+1]]."""
    offsets = np.zeros(len(strings) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(s) for s in strings], dtype=np.int64)
    data = np.frombuffer(b"".join(strings), dtype=np.uint8).copy()
    return non_empty(data), offsets


def string_table(strings: Mapping[bytes, int]) -> dict[str, np.ndarray]:
    """Strings matched whole, grouped by first byte, longest first (see `kernel_library.StringTable`)."""
    ordered = sorted((s for s in strings if s), key=lambda s: (s[0], -len(s), s))
    data, offsets = concatenated(ordered)
    first_byte = np.zeros(257, dtype=np.int32)
    counts = np.bincount([s[0] for s in ordered], minlength=256) if ordered else np.zeros(256, dtype=np.int64)
    first_byte[1:] = np.cumsum(counts)
    ids = np.array([strings[s] for s in ordered], dtype=np.int32)
    return {"data": data, "offsets": offsets, "ids": non_empty(ids), "first_byte": first_byte}


def pair_table(merges: Iterable[tuple[int, int, int, int]], token_count: int) -> dict[str, np.ndarray]:
    """Merges (left, right, rank, result) as rows by left id, right ids sorted (see `PairTable`)."""
    rows = np.array(sorted(merges), dtype=np.int64).reshape(-1, 4)
    offsets = np.zeros(token_count + 1, dtype=np.int32)
    if len(rows):
        offsets[1:] = np.cumsum(np.bincount(rows[:, 0], minlength=token_count))
    return {
        "offsets": offsets,
        "right": non_empty(rows[:, 1].astype(np.int32)),
        "rank": non_empty(rows[:, 2].astype(np.int32)),
        "result": non_empty(rows[:, 3].astype(np.int32)),
    }


def nfc_tables() -> dict[str, np.ndarray]:
    """The NFC tables of the reference normalizer (see `unicode_data`)."""
    from tokenizer_model import unicode_data

    data = unicode_data.load()
    keys = sorted(data.decompositions)
    decomposition_data = [c for key in keys for c in data.decompositions[key]]
    offsets = np.zeros(len(keys) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(data.decompositions[key]) for key in keys])
    combining = sorted(data.combining_classes)
    compositions = sorted(((first << 21) | second, composite)
                          for (first, second), composite in data.compositions.items())
    return {
        "decomposition_keys": np.array(keys, dtype=np.int32),
        "decomposition_offsets": offsets,
        "decomposition_data": np.array(decomposition_data, dtype=np.int32),
        "combining_keys": np.array(combining, dtype=np.int32),
        "combining_classes": np.array([data.combining_classes[c] for c in combining], dtype=np.int32),
        "composition_keys": np.array([key for key, _ in compositions], dtype=np.int64),
        "composition_values": np.array([value for _, value in compositions], dtype=np.int32),
    }


def codepoint_flags() -> np.ndarray:
    """uint8[0x110000]: character classes and NFC bits of every code point (`unicode_data.CodepointFlag`)."""
    from tokenizer_model import unicode_data

    return unicode_data.load().flags()
