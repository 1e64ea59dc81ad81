"""Checks a GGUF file's header (metadata and tensor directory) before gguf.GGUFReader parses it.

gguf.GGUFReader trusts the file: an array length past the end of the file makes it loop for as many
elements as the length says, nested arrays recurse without a bound, a string length past the end is
silently cut short, a string that is not UTF-8 raises UnicodeDecodeError (from the reader, or later
from whoever reads the value), and a tensor whose shape runs past the end of the file is found only
when it is loaded. `check_gguf_header` walks the same structure with bounds-checked reads, each of
which consumes bytes, so the walk ends within the file, and raises CheckpointError naming the file,
the metadata key or tensor, and the fix.

Layout (GGUF versions 2 and 3, either byte order): "GGUF", uint32 version, uint64 tensor count,
uint64 metadata count; each metadata entry (string key, uint32 value type, value); each tensor's
entry (string name, uint32 dimension count, uint64 dimensions innermost first, uint32 tensor type,
uint64 offset into the data section, which starts at the next multiple of general.alignment). A
string is a uint64 byte length and UTF-8 bytes; an array a uint32 element type, a uint64 length and
the elements.
"""

from __future__ import annotations

import dataclasses
import math
import mmap
import os
import struct
from pathlib import Path

from gguf import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGMLQuantizationType, GGUFValueType

from export.errors import CheckpointError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
ALIGNMENT_KEY = "general.alignment"
# Far above real files (a few dozen keys; vocabularies, scores and merges of at most ~260,000
# entries each; a few thousand tensors), low enough that gguf.GGUFReader, which makes Python
# objects per array element, stays within seconds and a few hundred megabytes.
MAX_METADATA_VALUES = 1 << 22
MAX_TENSORS = 1 << 16
# GGML_MAX_DIMS: ggml tensors have at most four dimensions.
MAX_TENSOR_DIMENSIONS = 4
_SCALAR_FORMATS = {
    GGUFValueType.UINT8: "B",
    GGUFValueType.INT8: "b",
    GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h",
    GGUFValueType.UINT32: "I",
    GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f",
    GGUFValueType.BOOL: "?",
    GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q",
    GGUFValueType.FLOAT64: "d",
}
# Bytes shown of a string that is not UTF-8 (a hostile one may be megabytes long).
_SHOWN_BYTES = 64
_FIX = "the file is truncated or corrupt (or not from a GGUF converter); download or copy it again."


@dataclasses.dataclass(frozen=True)
class _TensorExtent:
    """Where a tensor's data lies in the data section."""

    name: str
    offset: int
    size: int


class _HeaderReader:
    """Bounds-checked reads of a GGUF header, in the file's byte order, from its first byte."""

    def __init__(self, path: Path, data: mmap.mmap, byte_order: str) -> None:
        self.path = path
        self.data = data
        self.byte_order = byte_order
        self.offset = 0
        self.values_left = MAX_METADATA_VALUES

    def fail(self, problem: str, *, tensor: str | None = None) -> CheckpointError:
        return CheckpointError(self.path, problem, tensor=tensor, fix=_FIX)

    def take(self, size: int, what: str) -> bytes:
        start = self.offset
        self.skip(size, what)
        return self.data[start : self.offset]

    def skip(self, size: int, what: str) -> None:
        if self.offset + size > len(self.data):
            raise self.fail(f"{what} runs past the end of the file ({len(self.data)} bytes).")
        self.offset += size

    def unpack(self, layout: str, what: str) -> tuple:
        layout = self.byte_order + layout
        return struct.unpack(layout, self.take(struct.calcsize(layout), what))

    def text(self, what: str) -> str:
        (length,) = self.unpack("Q", f"the length of {what}")
        raw = self.take(length, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            shown = raw[:_SHOWN_BYTES] + (b"..." if len(raw) > _SHOWN_BYTES else b"")
            raise self.fail(
                f"{what} is not valid UTF-8 (byte {error.start} of {shown!r})."
            ) from error

    def count_values(self, count: int, what: str) -> None:
        self.values_left -= count
        if self.values_left < 0:
            raise self.fail(f"{what} takes the metadata past {MAX_METADATA_VALUES} values.")


def check_gguf_header(path: str | Path) -> None:
    """Raises CheckpointError unless the GGUF file's metadata and tensor directory are well
    formed, every string is UTF-8 and every tensor's data lies inside the file (see the module
    docstring)."""
    path = Path(path)
    if not path.is_file():  # opening a named pipe would wait for a writer forever
        raise CheckpointError(path, "is not a regular file.", fix="pass the GGUF file itself.")
    try:
        with path.open("rb") as file:
            if os.fstat(file.fileno()).st_size < len(GGUF_MAGIC) + 4:
                raise CheckpointError(path, "is too short to be a GGUF file.", fix=_FIX)
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
                _check_header(_HeaderReader(path, data, _byte_order(path, data)))
    except OSError as error:
        raise CheckpointError(path, f"cannot be read ({error}).") from error


def _byte_order(path: Path, data: mmap.mmap) -> str:
    """The struct byte order ("<" or ">") in which the file's version is a supported one."""
    if data[: len(GGUF_MAGIC)] != GGUF_MAGIC:
        raise CheckpointError(path, "does not start with 'GGUF'.", fix=_FIX)
    version_bytes = data[len(GGUF_MAGIC) : len(GGUF_MAGIC) + 4]
    for byte_order in ("<", ">"):
        if struct.unpack(byte_order + "I", version_bytes)[0] in SUPPORTED_VERSIONS:
            return byte_order
    raise CheckpointError(
        path,
        f"is GGUF version {struct.unpack('<I', version_bytes)[0]}; versions "
        f"{', '.join(map(str, SUPPORTED_VERSIONS))} are supported.",
        fix="convert the model again with a current GGUF converter.",
    )


def _check_header(reader: _HeaderReader) -> None:
    reader.skip(len(GGUF_MAGIC) + 4, "the version")
    tensor_count, key_count = reader.unpack("QQ", "the tensor and metadata counts")
    if tensor_count > MAX_TENSORS:
        raise reader.fail(f"declares {tensor_count} tensors; at most {MAX_TENSORS} are accepted.")
    reader.count_values(key_count, f"the metadata count ({key_count})")
    alignment = GGUF_DEFAULT_ALIGNMENT
    for _ in range(key_count):
        key, value = _read_metadata_entry(reader)
        if key == ALIGNMENT_KEY:
            alignment = _checked_alignment(reader, value)
    extents = [_read_tensor_entry(reader) for _ in range(tensor_count)]
    data_start = math.ceil(reader.offset / alignment) * alignment
    for extent in extents:
        if data_start + extent.offset + extent.size > len(reader.data):
            raise reader.fail(
                f"declares {extent.size} bytes of data at offset {extent.offset} of the data "
                f"section (which starts at byte {data_start}), past the end of the file "
                f"({len(reader.data)} bytes).",
                tensor=extent.name,
            )


def _read_metadata_entry(reader: _HeaderReader) -> tuple[str, object]:
    """The key of the metadata entry at the reader's offset, and its value if it is a scalar or
    a string (None for an array, whose elements are checked and skipped)."""
    key = reader.text(f"the metadata key at byte {reader.offset}")
    (raw_type,) = reader.unpack("I", f"the type of metadata key {key!r}")
    value_type = _value_type(reader, raw_type, key)
    if value_type != GGUFValueType.ARRAY:
        return key, _read_value(reader, value_type, f"the value of metadata key {key!r}")
    raw_element_type, length = reader.unpack("IQ", f"the array header of metadata key {key!r}")
    element_type = _value_type(reader, raw_element_type, key)
    if element_type == GGUFValueType.ARRAY:
        raise reader.fail(
            f"metadata key {key!r} holds an array of arrays, which sharktank's GGUF loader does "
            "not read."
        )
    reader.count_values(length, f"metadata key {key!r} ({length} elements)")
    if element_type == GGUFValueType.STRING:
        for index in range(length):
            reader.text(f"element {index} of metadata key {key!r}")
    else:
        size = struct.calcsize(_SCALAR_FORMATS[element_type]) * length
        reader.skip(size, f"the array of metadata key {key!r} ({length} elements)")
    return key, None


def _value_type(reader: _HeaderReader, raw_type: int, key: str) -> GGUFValueType:
    try:
        return GGUFValueType(raw_type)
    except ValueError:
        raise reader.fail(f"metadata key {key!r} has unknown value type {raw_type}.") from None


def _read_value(reader: _HeaderReader, value_type: GGUFValueType, what: str) -> object:
    if value_type == GGUFValueType.STRING:
        return reader.text(what)
    return reader.unpack(_SCALAR_FORMATS[value_type], what)[0]


def _checked_alignment(reader: _HeaderReader, value: object) -> int:
    is_integer = isinstance(value, int) and not isinstance(value, bool)
    if is_integer and value > 0 and value & (value - 1) == 0:
        return value
    raise reader.fail(f"{ALIGNMENT_KEY} is {value!r}; it must be a power of two.")


def _read_tensor_entry(reader: _HeaderReader) -> _TensorExtent:
    name = reader.text(f"the tensor name at byte {reader.offset}")
    (dimension_count,) = reader.unpack("I", f"the dimension count of tensor {name!r}")
    if dimension_count > MAX_TENSOR_DIMENSIONS:
        raise reader.fail(
            f"has {dimension_count} dimensions; GGUF tensors have at most {MAX_TENSOR_DIMENSIONS}.",
            tensor=name,
        )
    dimensions = reader.unpack("Q" * dimension_count, f"the dimensions of tensor {name!r}")
    raw_type, offset = reader.unpack("IQ", f"the type and offset of tensor {name!r}")
    try:
        tensor_type = GGMLQuantizationType(raw_type)
    except ValueError:
        raise reader.fail(f"has unknown tensor type {raw_type}.", tensor=name) from None
    block_size, block_bytes = GGML_QUANT_SIZES[tensor_type]
    elements = math.prod(dimensions)
    if elements % block_size != 0:
        raise reader.fail(
            f"has shape {list(reversed(dimensions))} ({elements} elements), not a whole number of "
            f"{tensor_type.name} blocks of {block_size}.",
            tensor=name,
        )
    return _TensorExtent(name=name, offset=offset, size=elements // block_size * block_bytes)
