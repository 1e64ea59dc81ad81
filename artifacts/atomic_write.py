"""Atomic file writes: write a temporary file next to the target, then rename it over the target.

A reader (or a Bazel action killed half way) never sees a half-written file.
"""

import os
import tempfile
from pathlib import Path


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Writes `data` to `path` atomically (temporary file in the same directory, then os.replace)."""
    path = Path(path)
    descriptor, temporary_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as temporary_file:
            temporary_file.write(data)
        os.chmod(temporary_name, 0o644)
        os.replace(temporary_name, path)
    except BaseException:
        if os.path.exists(temporary_name):
            os.unlink(temporary_name)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    """Writes `text` as UTF-8 to `path` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))
