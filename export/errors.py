"""The one error type the export package raises for checkpoints it cannot export."""

from __future__ import annotations

from pathlib import Path


class CheckpointError(ValueError):
    """A checkpoint that cannot be exported.

    The message names the file, the tensor when one is at fault, what is wrong and how to fix it.
    """

    def __init__(
        self,
        path: str | Path,
        problem: str,
        *,
        tensor: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.tensor = tensor
        self.problem = problem
        self.fix = fix
        location = f"{self.path}" if tensor is None else f"{self.path}: tensor '{tensor}'"
        message = f"{location}: {problem}"
        if fix:
            message += f" Fix: {fix}"
        super().__init__(message)


class ExportOptionError(ValueError):
    """Export options that do not fit the model or the file system; the message names the fix."""
