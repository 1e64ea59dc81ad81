"""toolchains.share_parameter_storage: identical entries share storage, every key keeps its bytes,
and IREE reads the result."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from iree import runtime as iree_runtime

from toolchains.share_parameter_storage import ParameterArchiveError, main, share_parameter_storage


def _archive(path: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    weights = rng.standard_normal(4096).astype(np.float16)
    arrays = {
        "prefill_weight": weights,
        "decode_weight": weights.copy(),
        "other": rng.standard_normal(1000).astype(np.float32),
        "small": np.arange(7, dtype=np.int8),
    }
    index = iree_runtime.ParameterIndex()
    for key, array in arrays.items():
        index.add_buffer(key, array)
    index.add_splat("zeros", np.array([0], dtype=np.int32), 256)
    index.create_archive_file(str(path))
    return arrays


def _entries(path: Path) -> dict[str, object]:
    index = iree_runtime.ParameterIndex()
    index.load(str(path))
    return dict(index.items())


def test_identical_entries_share_one_range_and_keep_their_bytes(tmp_path: Path):
    arrays = _archive(tmp_path / "packed.irpa")
    result = share_parameter_storage(tmp_path / "packed.irpa", tmp_path / "shared.irpa")

    assert (result.entries, result.data_entries, result.shared_entries) == (5, 4, 1)
    assert result.bytes_after < result.bytes_before
    entries = _entries(tmp_path / "shared.irpa")
    assert sorted(entries) == sorted([*arrays, "zeros"])
    for key, array in arrays.items():
        assert bytes(entries[key].file_view) == array.tobytes(), key
    assert entries["prefill_weight"].file_storage[1] == entries["decode_weight"].file_storage[1]
    assert entries["other"].file_storage[1] != entries["prefill_weight"].file_storage[1]
    assert entries["zeros"].is_splat and entries["zeros"].length == 256
    # Alignment the runtime maps at: every data range starts on a 64-byte boundary.
    assert all(entry.file_storage[1] % 64 == 0 for entry in entries.values() if entry.is_file)


def test_an_archive_without_duplicates_is_copied_unchanged_in_content(tmp_path: Path):
    index = iree_runtime.ParameterIndex()
    index.add_buffer("only", np.arange(100, dtype=np.float32))
    index.create_archive_file(str(tmp_path / "one.irpa"))
    result = share_parameter_storage(tmp_path / "one.irpa", tmp_path / "out.irpa")
    assert result.shared_entries == 0
    assert bytes(_entries(tmp_path / "out.irpa")["only"].file_view) == np.arange(100, dtype=np.float32).tobytes()


def test_a_file_that_is_not_an_archive_is_named(tmp_path: Path, capsys):
    (tmp_path / "model.irpa").write_bytes(b"GGUF" + bytes(200))
    with pytest.raises(ParameterArchiveError, match="model.irpa: not an IREE parameter archive"):
        share_parameter_storage(tmp_path / "model.irpa", tmp_path / "out.irpa")
    assert main(["--input", str(tmp_path / "model.irpa"), "--output", str(tmp_path / "out.irpa")]) == 1
    assert "not an IREE parameter archive" in capsys.readouterr().err
    assert not (tmp_path / "out.irpa").exists()
    assert list(tmp_path.glob("*.tmp.irpa")) == []
