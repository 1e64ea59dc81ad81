"""Progress of the export in the log: each step's name when it starts and its seconds when it ends."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

LOG = logging.getLogger("export_llm")


@contextlib.contextmanager
def timed(step: str) -> Iterator[None]:
    """Logs `step` and, when it ends, its seconds."""
    LOG.info("%s ...", step)
    start = time.perf_counter()
    yield
    LOG.info("%s: %.1f s", step, time.perf_counter() - start)
