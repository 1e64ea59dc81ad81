"""Rewrites an IREE parameter archive (IRPA) so that entries with identical bytes share storage.

    python -m toolchains.share_parameter_storage --input packed.irpa --output model.irpa

When iree-compile packs weights at build time (`--iree-opt-export-parameters`), it writes one
entry per hoisted global, and with data tiling each weight is hoisted twice, once per function
shape that uses it (prefill and decode), with byte-identical contents. The IRPA format lets
several entries reference one storage range ("Multiple entries with distinct virtual ranges may
reference the same or overlapping physical ranges", iree/schemas/parameter_archive.h), so this tool
keeps every key and stores each distinct content once. A runtime that maps the archive then holds
one copy of those pages.

Only archives with a single v0 header are accepted (what iree-compile and iree.runtime write); the
header, entry table and metadata are copied with the storage references rewritten, and the output is
written to a temporary file and renamed into place.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import struct
import sys
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, Sequence

MAGIC = 0x41505249  # "IRPA"
# Header prefix: magic u32, version_major u16, version_minor u16, header_size u64,
# next_header_offset u64, flags u64; then v0: entry_count u64 and three (offset, length) ranges.
_HEADER = struct.Struct("<IHHQQQQQQQQQQ")
# Entry header: entry_size u64, type u32, flags u64, name (offset, length), metadata
# (offset, length), minimum_alignment u64; a data entry follows it with storage (offset, length).
_ENTRY_HEADER = struct.Struct("<QIQQQQQQ")
_STORAGE_REF = struct.Struct("<QQ")
_DATA_ENTRY = 2
_DEFAULT_DATA_ALIGNMENT = 64
_COPY_CHUNK = 1 << 24


class ParameterArchiveError(Exception):
    """The input is not an archive this tool can rewrite; the message names the file."""


@dataclasses.dataclass
class _Header:
    version_major: int
    version_minor: int
    header_size: int
    next_header_offset: int
    flags: int
    entry_count: int
    entry_segment: tuple[int, int]
    metadata_segment: tuple[int, int]
    storage_segment: tuple[int, int]

    def pack(self) -> bytes:
        return _HEADER.pack(
            MAGIC, self.version_major, self.version_minor, self.header_size,
            self.next_header_offset, self.flags, self.entry_count,
            *self.entry_segment, *self.metadata_segment, *self.storage_segment,
        )


@dataclasses.dataclass(frozen=True)
class ShareResult:
    """What the rewrite did."""

    entries: int
    data_entries: int
    shared_entries: int
    bytes_before: int
    bytes_after: int


def _read_header(archive: BinaryIO, path: Path) -> _Header:
    raw = archive.read(_HEADER.size)
    if len(raw) < _HEADER.size:
        raise ParameterArchiveError(f"{path}: too short to be an IREE parameter archive.")
    magic, major, minor, header_size, next_header, flags, count, *ranges = _HEADER.unpack(raw)
    if magic != MAGIC:
        raise ParameterArchiveError(f"{path}: not an IREE parameter archive (no IRPA magic).")
    if major != 0:
        raise ParameterArchiveError(f"{path}: archive version {major}.{minor}; only 0.x is supported.")
    if next_header:
        raise ParameterArchiveError(
            f"{path}: has linked archive headers; repack it with iree-convert-parameters first."
        )
    return _Header(
        major, minor, header_size, next_header, flags, count,
        (ranges[0], ranges[1]), (ranges[2], ranges[3]), (ranges[4], ranges[5]),
    )


def _read_range(archive: BinaryIO, offset: int, length: int, path: Path) -> Iterator[bytes]:
    """The `length` bytes at `offset` of `archive`, in chunks."""
    archive.seek(offset)
    remaining = length
    while remaining:
        chunk = archive.read(min(remaining, _COPY_CHUNK))
        if not chunk:
            raise ParameterArchiveError(f"{path}: truncated storage segment.")
        yield chunk
        remaining -= len(chunk)


def _align(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


def share_parameter_storage(input_path: Path, output_path: Path) -> ShareResult:
    """Writes `output_path`: `input_path` with identical data entries sharing one storage range."""
    input_path, output_path = Path(input_path), Path(output_path)
    with input_path.open("rb") as archive:
        header = _read_header(archive, input_path)
        entry_offset, entry_length = header.entry_segment
        storage_offset, storage_length = header.storage_segment
        if storage_offset < max(entry_offset + entry_length, sum(header.metadata_segment)):
            raise ParameterArchiveError(
                f"{input_path}: the storage segment is not after the entry table and metadata; "
                "repack it with iree-convert-parameters first."
            )
        archive.seek(entry_offset)
        table = bytearray(archive.read(entry_length))

        # content digest -> (new storage offset, length); entry position -> storage ref.
        placed: dict[tuple[bytes, int], int] = {}
        sources: list[tuple[int, int, int]] = []  # (old offset, length, new offset)
        rewritten: list[tuple[int, int, int]] = []  # (table position, new offset, length)
        position, data_entries, new_length = 0, 0, 0
        for _ in range(header.entry_count):
            entry_size, entry_type, _, _, _, _, _, alignment = _ENTRY_HEADER.unpack_from(table, position)
            if entry_type == _DATA_ENTRY:
                data_entries += 1
                reference = position + _ENTRY_HEADER.size
                old_offset, length = _STORAGE_REF.unpack_from(table, reference)
                if old_offset + length > storage_length:
                    raise ParameterArchiveError(
                        f"{input_path}: an entry's data lies outside the storage segment."
                    )
                digest = hashlib.sha256()
                for chunk in _read_range(archive, storage_offset + old_offset, length, input_path):
                    digest.update(chunk)
                key = (digest.digest(), length)
                if key not in placed:
                    new_offset = _align(new_length, max(alignment, _DEFAULT_DATA_ALIGNMENT))
                    placed[key] = new_offset
                    sources.append((old_offset, length, new_offset))
                    new_length = new_offset + length
                rewritten.append((reference, placed[key], length))
            position = _align(position + entry_size, 16)

        for reference, new_offset, length in rewritten:
            _STORAGE_REF.pack_into(table, reference, new_offset, length)
        header.storage_segment = (storage_offset, new_length)

        output_path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=output_path.parent, suffix=".tmp.irpa")
        try:
            with os.fdopen(handle, "wb") as output:
                archive.seek(0)
                prefix = bytearray(archive.read(storage_offset))
                prefix[0 : _HEADER.size] = header.pack()
                prefix[entry_offset : entry_offset + entry_length] = table
                output.write(prefix)
                for old_offset, length, new_offset in sources:
                    output.seek(storage_offset + new_offset)
                    for chunk in _read_range(archive, storage_offset + old_offset, length, input_path):
                        output.write(chunk)
                output.truncate(_align(storage_offset + new_length, 4096))
            os.chmod(temporary, 0o644)
            os.replace(temporary, output_path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return ShareResult(
        entries=header.entry_count,
        data_entries=data_entries,
        shared_entries=data_entries - len(sources),
        bytes_before=input_path.stat().st_size,
        bytes_after=output_path.stat().st_size,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="share_parameter_storage", description=__doc__.split("\n")[0])
    parser.add_argument("--input", required=True, type=Path, help="the archive iree-compile wrote")
    parser.add_argument("--output", required=True, type=Path, help="the archive to write")
    args = parser.parse_args(argv)
    try:
        result = share_parameter_storage(args.input, args.output)
    except (ParameterArchiveError, OSError) as error:
        print(f"share_parameter_storage: error: {error}", file=sys.stderr)
        return 1
    print(
        f"{args.output}: {result.data_entries} data entries, {result.shared_entries} share another's "
        f"storage; {result.bytes_before} -> {result.bytes_after} bytes"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
