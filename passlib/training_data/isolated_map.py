"""`isolated_map`: a function over items in worker processes that may crash or hang.

MLIR passes run in the process that calls them, and some upstream passes crash on valid input (e.g.
`linalg-specialize-generic-ops` on a generic with a scalar operand, a SIGSEGV in IREE 3.8). The data
generator runs the search on thousands of generated modules, so each item is processed in a worker
process: a worker that dies (a signal, an exit) or exceeds the item's time limit is replaced, its
item yields `Failed(reason)`, and the other items are unaffected. Results come back in item order.
"""

from __future__ import annotations

import dataclasses
import multiprocessing.connection
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from passlib import worker_process


@dataclasses.dataclass(frozen=True)
class Failed:
    """An item whose worker crashed or ran out of time."""

    reason: str


def _serve(connection: multiprocessing.connection.Connection, initializer: Callable[..., None] | None,
           initargs: tuple, function: Callable[[Any], Any]) -> None:
    if initializer is not None:
        initializer(*initargs)
    while True:
        message = connection.recv()
        if message is None:
            return
        connection.send(function(message))


class _Worker(worker_process.WorkerProcess):
    def __init__(self, function, initializer, initargs) -> None:
        # Not a daemon: a worker may start processes of its own (passlib.search_worker); stop() ends it.
        super().__init__(_serve, (initializer, initargs, function), daemon=False)
        self.index: int | None = None
        self.started = 0.0

    def submit(self, index: int, item: Any) -> None:
        self.index, self.started = index, time.monotonic()
        self.connection.send(item)


def isolated_map(function: Callable[[Any], Any], items: Sequence[Any], *, jobs: int = 1,
                 timeout_s: float = 600.0, initializer: Callable[..., None] | None = None,
                 initargs: tuple = ()) -> Iterator[tuple[int, Any]]:
    """Yields (index, function(item) or Failed) for every item, in item order. `function` and
    `initializer` must be importable top-level functions (workers are spawned, not forked)."""
    pending = list(enumerate(items))[::-1]
    results: dict[int, Any] = {}
    workers = [_Worker(function, initializer, initargs) for _ in range(max(1, min(jobs, len(items))))]
    next_index = 0
    try:
        while next_index < len(items):
            for worker in workers:
                if worker.index is None and pending:
                    worker.submit(*pending.pop())
            busy = [worker for worker in workers if worker.index is not None]
            ready = multiprocessing.connection.wait([worker.connection for worker in busy], timeout=1.0)
            for position, worker in enumerate(workers):
                if worker.index is None:
                    continue
                failure = None
                if worker.connection in ready:
                    try:
                        results[worker.index] = worker.connection.recv()
                        worker.index = None
                        continue
                    except (EOFError, OSError):
                        failure = f"the worker process died (exit code {worker.process.exitcode})"
                elif time.monotonic() - worker.started > timeout_s:
                    failure = f"it took more than {timeout_s:g} s"
                if failure is not None:
                    worker.stop(kill=True)
                    worker.process.join()
                    if "died" in failure:
                        failure = f"the worker process died (exit code {worker.process.exitcode})"
                    results[worker.index] = Failed(failure)
                    workers[position] = _Worker(function, initializer, initargs)
            while next_index in results:
                yield next_index, results.pop(next_index)
                next_index += 1
    finally:
        for worker in workers:
            worker.stop(kill=worker.index is not None)
