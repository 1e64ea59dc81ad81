"""A spawned worker process that serves requests over a pipe (passlib.search_worker, and the
labelling workers of passlib.training_data.isolated_map).

The process is spawned, not forked (MLIR contexts and their threads do not survive a fork), so its
target and arguments must be importable and picklable. `None` on the pipe asks it to end.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
from collections.abc import Callable
from typing import Any

_STOP_TIMEOUT_S = 10


class WorkerProcess:
    """`target(connection, *args)` in a spawned process; `connection` is this side of the pipe."""

    def __init__(self, target: Callable[..., None], args: tuple[Any, ...], daemon: bool) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=target, args=(child, *args), daemon=daemon)
        self.process.start()
        child.close()

    def stop(self, kill: bool = False) -> None:
        """Asks the process to end (kills it with `kill`, or when it does not end in time), waits for
        it, and closes the pipe."""
        if kill:
            self.process.kill()
        else:
            try:
                self.connection.send(None)
            except (BrokenPipeError, OSError):
                pass
        self.process.join(timeout=_STOP_TIMEOUT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()
