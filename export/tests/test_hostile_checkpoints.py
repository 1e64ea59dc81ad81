"""Hostile checkpoints are refused with a CheckpointError naming the file, the entry at fault and
the fix; nothing outside the checkpoint directory (and so outside the source digest) is read, and
no reader crashes or hangs: shards the index places outside the directory, malformed JSON, GGUF
strings that are not UTF-8 and GGUF headers whose sizes do not fit the file."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import struct
from contextlib import suppress
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from artifacts import bundle
from export import hf_checkpoint, testing
from export.checkpoint import load_checkpoint
from export.errors import CheckpointError
from export.hf_checkpoint import INDEX_FILE, MAX_JSON_BYTES

# Every test here finishes in well under a second; a reader that loops on hostile sizes does not.
DEADLINE_SECONDS = 60


@pytest.fixture
def deadline():
    """Fails a test that runs past DEADLINE_SECONDS (with an AssertionError, which no reader
    catches)."""

    def expire(signal_number, frame):
        raise AssertionError(f"still running after {DEADLINE_SECONDS} s: the reader hangs")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(DEADLINE_SECONDS)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# --- Hugging Face checkpoints: shards named by the index ------------------------------------------


@pytest.fixture(scope="module")
def pristine_sharded(tmp_path_factory) -> Path:
    return testing.write_tiny_hf_checkpoint(
        tmp_path_factory.mktemp("pristine") / "llama", "llama", seed=5, max_shard_size="100KB"
    )


@pytest.fixture
def sharded(pristine_sharded, tmp_path) -> Path:
    """A private copy of the sharded checkpoint, in tmp_path/llama, that a test may rearrange."""
    return Path(shutil.copytree(pristine_sharded, tmp_path / "llama"))


def second_shard(checkpoint: Path) -> Path:
    return sorted(checkpoint.glob("*.safetensors"))[1]


def rename_in_index(checkpoint: Path, old_name: str, new_name: str) -> str:
    """Makes the index name `new_name` where it named `old_name`; returns one tensor concerned."""
    index_path = checkpoint / INDEX_FILE
    index = json.loads(index_path.read_text())
    tensors = [name for name, file in index["weight_map"].items() if file == old_name]
    for name in tensors:
        index["weight_map"][name] = new_name
    index_path.write_text(json.dumps(index))
    return tensors[0]


def move_second_shard(checkpoint: Path, destination: Path, entry: str) -> str:
    """Moves the second shard to `destination`, names it `entry` in the index; returns a tensor
    it holds."""
    shard = second_shard(checkpoint)
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(shard, destination)
    return rename_in_index(checkpoint, shard.name, entry)


def shard_in_parent_directory(checkpoint: Path) -> tuple[str, str]:
    name = second_shard(checkpoint).name
    entry = f"../outside/{name}"
    return entry, move_second_shard(checkpoint, checkpoint.parent / "outside" / name, entry)


def shard_at_absolute_path(checkpoint: Path) -> tuple[str, str]:
    destination = checkpoint.parent / "outside" / second_shard(checkpoint).name
    return str(destination), move_second_shard(checkpoint, destination, str(destination))


def shard_behind_directory_symlink(checkpoint: Path) -> tuple[str, str]:
    name = second_shard(checkpoint).name
    outside = checkpoint.parent / "outside"
    tensor = move_second_shard(checkpoint, outside / name, f"shards/{name}")
    (checkpoint / "shards").symlink_to(outside, target_is_directory=True)
    return f"shards/{name}", tensor


def shard_in_subdirectory(checkpoint: Path) -> None:
    name = second_shard(checkpoint).name
    move_second_shard(checkpoint, checkpoint / "shards" / name, f"shards/{name}")


def shard_as_file_symlink(checkpoint: Path) -> None:
    """As Bazel (sandbox, external repositories) and the Hugging Face cache present files."""
    shard = second_shard(checkpoint)
    target = checkpoint.parent / "store" / shard.name
    target.parent.mkdir()
    shutil.move(shard, target)
    shard.symlink_to(target)


OUTSIDE_LAYOUTS = {
    "parent_directory": shard_in_parent_directory,
    "absolute_path": shard_at_absolute_path,
    "directory_symlink": shard_behind_directory_symlink,
}
INSIDE_LAYOUTS = {
    "flat": lambda checkpoint: None,
    "subdirectory": shard_in_subdirectory,
    "file_symlink": shard_as_file_symlink,
}


@pytest.mark.parametrize("layout", sorted(OUTSIDE_LAYOUTS))
def test_index_naming_a_shard_outside_the_directory_is_refused(sharded, layout):
    entry, tensor = OUTSIDE_LAYOUTS[layout](sharded)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(sharded, dtype=torch.float32)
    message = str(error.value)
    assert str(sharded / INDEX_FILE) in message
    assert f"tensor '{tensor}'" in message and repr(entry) in message
    assert "outside the checkpoint directory" in message
    assert "inside the checkpoint directory by paths relative to it" in message


def opened_shards(monkeypatch) -> list[Path]:
    """The files hf_checkpoint opens as safetensors from now on (filled in as it opens them)."""
    opened: list[Path] = []
    real_safe_open = hf_checkpoint.safe_open

    def recording_safe_open(path, **options):
        opened.append(Path(path))
        return real_safe_open(path, **options)

    monkeypatch.setattr(hf_checkpoint, "safe_open", recording_safe_open)
    return opened


def digest_changes_with(checkpoint: Path, file: Path) -> bool:
    """Whether flipping the last byte of `file` changes the checkpoint's source digest."""
    before = bundle.checkpoint_sha256(checkpoint)
    data = bytearray(file.read_bytes())
    data[-1] ^= 0xFF
    file.write_bytes(bytes(data))
    return bundle.checkpoint_sha256(checkpoint) != before


@pytest.mark.parametrize("layout", sorted(INSIDE_LAYOUTS))
def test_source_digest_covers_every_shard_the_index_names(sharded, layout, monkeypatch):
    INSIDE_LAYOUTS[layout](sharded)
    opened = opened_shards(monkeypatch)
    load_checkpoint(sharded, dtype=torch.float32)
    index = json.loads((sharded / INDEX_FILE).read_text())
    assert set(opened) == {sharded / name for name in index["weight_map"].values()}
    for shard in sorted(set(opened)):
        assert digest_changes_with(sharded, shard), f"{shard} is read but not in the digest"


@pytest.mark.parametrize("layout", sorted(OUTSIDE_LAYOUTS))
def test_no_shard_outside_the_source_digest_is_read(sharded, layout, monkeypatch):
    OUTSIDE_LAYOUTS[layout](sharded)
    opened = opened_shards(monkeypatch)
    with suppress(CheckpointError):
        load_checkpoint(sharded, dtype=torch.float32)
    for shard in sorted(set(opened)):
        assert digest_changes_with(sharded, shard), f"{shard} is read but not in the digest"


@pytest.mark.parametrize("weight_map", [["model-00001-of-00005.safetensors"], {"x": 5}, None])
def test_index_without_a_map_of_file_names_is_refused(sharded, weight_map):
    (sharded / INDEX_FILE).write_text(json.dumps({"weight_map": weight_map}))
    with pytest.raises(CheckpointError, match="weight_map object of tensor names") as error:
        load_checkpoint(sharded, dtype=torch.float32)
    assert str(sharded / INDEX_FILE) in str(error.value)


@pytest.mark.parametrize("file_name", ["config.json", INDEX_FILE])
def test_json_nested_past_the_recursion_limit_is_refused(sharded, file_name):
    (sharded / file_name).write_text("[" * 100_000)
    with pytest.raises(CheckpointError, match="is not valid JSON") as error:
        load_checkpoint(sharded, dtype=torch.float32)
    assert str(sharded / file_name) in str(error.value)


def test_oversized_json_is_refused_unread(sharded):
    config_path = sharded / "config.json"
    with config_path.open("r+b") as stream:
        stream.truncate(MAX_JSON_BYTES + 1)  # sparse: no disk space taken
    with pytest.raises(CheckpointError, match=f"at most {MAX_JSON_BYTES}") as error:
        load_checkpoint(sharded, dtype=torch.float32)
    assert str(config_path) in str(error.value)


def test_named_pipe_among_the_shards_is_not_opened(sharded):
    """Opening a named pipe waits for a writer: it would hang the export."""
    os.mkfifo(sharded / "weights.safetensors")
    (sharded / INDEX_FILE).unlink()
    for shard in sorted(sharded.glob("model-*.safetensors")):
        shard.unlink()
    with pytest.raises(CheckpointError, match="has no \\*.safetensors file"):
        load_checkpoint(sharded, dtype=torch.float32)


# --- GGUF: strings that are not UTF-8 -------------------------------------------------------------


@pytest.fixture(scope="module")
def marked_gguf(tmp_path_factory) -> bytes:
    """A small GGUF file whose metadata key QQQQ.key, general.name ZZZZ, second token YYYY and
    tensor name token_embd are each unique in its bytes, for the tests to damage."""
    path = tmp_path_factory.mktemp("gguf") / "marked.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("ZZZZ")
    writer.add_token_list(["a", "YYYY"])
    writer.add_uint32("QQQQ.key", 1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


@pytest.mark.parametrize(
    ("marker", "damaged", "named"),
    [
        (b"QQQQ.key", b"Q\xffQQ.key", "the metadata key at byte"),
        (b"ZZZZ", b"Z\xffZZ", "the value of metadata key 'general.name'"),
        (b"YYYY", b"Y\xc3YY", "element 1 of metadata key 'tokenizer.ggml.tokens'"),
        (b"token_embd", b"token\x80embd", "the tensor name at byte"),
    ],
)
def test_gguf_string_that_is_not_utf8_is_refused(marked_gguf, tmp_path, marker, damaged, named):
    assert marked_gguf.count(marker) == 1
    path = tmp_path / "damaged.gguf"
    path.write_bytes(marked_gguf.replace(marker, damaged))
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, dtype=torch.float32)
    message = str(error.value)
    assert message.startswith(f"{path}: {named}")
    assert "is not valid UTF-8" in message and repr(damaged)[2:-1] in message
    assert "Fix:" in message


# --- GGUF: sizes that do not fit the file ---------------------------------------------------------

_STRING, _ARRAY = gguf.GGUFValueType.STRING, gguf.GGUFValueType.ARRAY
_UINT8 = gguf.GGUFValueType.UINT8


def gguf_bytes(*, metadata: list[bytes] = (), tensors: list[bytes] = ()) -> bytes:
    """A version-3 GGUF file of raw metadata entries and tensor entries (and no tensor data)."""
    counts = struct.pack("<IQQ", 3, len(tensors), len(metadata))
    return b"GGUF" + counts + b"".join(metadata) + b"".join(tensors)


def gguf_string(raw: bytes) -> bytes:
    return struct.pack("<Q", len(raw)) + raw


def tensor_entry(name: bytes, dimensions: tuple[int, ...]) -> bytes:
    """A float32 tensor's directory entry at offset 0 of the data section."""
    layout = f"<I{len(dimensions)}QIQ"
    f32 = gguf.GGMLQuantizationType.F32
    return gguf_string(name) + struct.pack(layout, len(dimensions), *dimensions, f32, 0)


HOSTILE_HEADERS = {
    # gguf.GGUFReader loops over the declared length even past the end of the file.
    "array_length_past_the_end": (
        gguf_bytes(metadata=[gguf_string(b"a") + struct.pack("<IIQ", _ARRAY, _UINT8, 1 << 62)]),
        "metadata key 'a' (4611686018427387904 elements) takes the metadata past",
    ),
    # ... and recurses once per level of nested arrays.
    "nested_arrays": (
        gguf_bytes(
            metadata=[gguf_string(b"a") + struct.pack("<I", _ARRAY)
                      + struct.pack("<IQ", _ARRAY, 1) * 100_000 + struct.pack("<IQ", _UINT8, 0)]
        ),
        "metadata key 'a' holds an array of arrays",
    ),
    # ... and cuts a string short at the end of the file.
    "string_length_past_the_end": (
        gguf_bytes(metadata=[gguf_string(b"a") + struct.pack("<IQ", _STRING, 1 << 62) + b"x"]),
        "the value of metadata key 'a' runs past the end of the file",
    ),
    "metadata_count_past_the_end": (
        b"GGUF" + struct.pack("<IQQ", 3, 0, 1 << 62),
        "the metadata count (4611686018427387904) takes the metadata past",
    ),
    "tensor_count": (
        b"GGUF" + struct.pack("<IQQ", 3, 1 << 62, 0),
        "declares 4611686018427387904 tensors",
    ),
    "tensor_data_past_the_end": (
        gguf_bytes(tensors=[tensor_entry(b"t", (4, 8))]),
        "tensor 't': declares 128 bytes of data at offset 0",
    ),
    "huge_tensor_shape": (
        gguf_bytes(tensors=[tensor_entry(b"t", (1 << 40, 1 << 40))]),
        f"tensor 't': declares {4 << 80} bytes of data",
    ),
    "too_many_dimensions": (
        gguf_bytes(tensors=[tensor_entry(b"t", (1,) * 5)]),
        "tensor 't': has 5 dimensions; GGUF tensors have at most 4",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_HEADERS))
def test_gguf_header_that_does_not_fit_the_file_is_refused(tmp_path, case, deadline):
    data, expected = HOSTILE_HEADERS[case]
    path = tmp_path / f"{case}.gguf"
    path.write_bytes(data)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path, dtype=torch.float32)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and expected in message
    assert "Fix:" in message


# --- A context length no KV cache can hold ---------------------------------------------------------


def test_context_length_over_the_supported_maximum_is_refused_before_export(tmp_path, deadline):
    """A checkpoint claiming 2**40 tokens of context would size a KV cache of that many positions;
    the export refuses it at once, naming the file and --context-length, and writes nothing."""
    from export.errors import ExportOptionError
    from export.export_llm import MAX_CONTEXT_LENGTH, ExportOptions, ExportOutputs, export_checkpoint

    checkpoint = testing.write_tiny_hf_checkpoint(tmp_path / "llama", "llama", seed=3,
                                                  max_position_embeddings=1 << 40)
    outputs = ExportOutputs(tmp_path / "model.mlir", tmp_path / "model.irpa", tmp_path / "config.json")
    expected = rf"{re.escape(str(checkpoint))}.*over the {MAX_CONTEXT_LENGTH}.*--context-length"
    with pytest.raises(ExportOptionError, match=expected):
        export_checkpoint(checkpoint, outputs, ExportOptions())
    assert not any(path.exists() for path in (outputs.mlir, outputs.irpa, outputs.config))
