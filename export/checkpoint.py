"""Picks the reader for a checkpoint path: a .gguf file or a Hugging Face model directory."""

from __future__ import annotations

from pathlib import Path

import torch
from sharktank.types import Dataset

from export.errors import CheckpointError
from export.gguf_checkpoint import load_gguf_checkpoint
from export.hf_checkpoint import load_hf_checkpoint

_GGUF_MAGIC = b"GGUF"


def load_checkpoint(path: str | Path, *, dtype: torch.dtype) -> Dataset:
    """Reads a checkpoint into a sharktank Dataset with GGUF-style tensor names and properties.

    Args:
      path: a GGUF file, or a directory with config.json and *.safetensors.
      dtype: the activation dtype the model will be exported with.
    Raises:
      CheckpointError: the checkpoint is missing, unsupported, inconsistent or corrupt.
    """
    path = Path(path)
    if path.is_dir():
        return load_hf_checkpoint(path, dtype=dtype)
    if not path.is_file():
        raise CheckpointError(
            path,
            "does not exist.",
            fix="pass a .gguf file or a Hugging Face model directory to --checkpoint.",
        )
    with path.open("rb") as file:
        magic = file.read(len(_GGUF_MAGIC))
    if magic == _GGUF_MAGIC:
        return load_gguf_checkpoint(path, dtype=dtype)
    raise CheckpointError(
        path,
        "is neither a GGUF file (it does not start with 'GGUF') nor a directory.",
        fix="pass a .gguf file or the Hugging Face model directory holding config.json.",
    )
