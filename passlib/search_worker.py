"""Pass pipelines in a worker process: a pass that crashes takes down the worker, not passlib.

Some upstream passes crash on valid input (IREE 3.8's `linalg-specialize-generic-ops` takes a SIGSEGV
on a `linalg.generic` with a scalar operand), and passlib runs passes on inputs it did not write: the
search runs every allowed pass on every state it reaches, and an LLM's schedule names any of them. So
both run in a worker process (spawned once, reused for every unit, replaced when it dies), with the
memory cap of passlib.sandbox:

- `search`: the worker reports each pass before it runs it; when the worker dies, the pass it was
  running is left out and the unit is searched again (at most MAX_CRASHES times), and the result
  names the pass and the signal. The best states come back as generic MLIR text, printed by MLIR from
  modules that verified, and are parsed into the caller's context.
- `apply_pipeline`: an LLM's pipeline; a crash is a failed pipeline with the reason.
"""

from __future__ import annotations

import atexit
import dataclasses
import multiprocessing.connection
import os
import resource
import signal
import threading
import time
from collections.abc import Mapping

from iree.compiler import ir as mlir

from passlib import ir, sandbox, schedule, search, worker_process

# Passes a unit's search may lose to crashes before it gives up on the unit.
MAX_CRASHES = 3
# Fault injection for tests: the worker kills itself with SIGSEGV just before it runs the pass named
# here, as upstream passes do on some inputs (not deterministically: they read freed memory).
CRASH_ON_PASS_VARIABLE = "PASSLIB_TEST_WORKER_CRASH_ON_PASS"
# Wall-clock bound of one pipeline (an LLM's schedule, a cached pipeline replayed).
PIPELINE_TIMEOUT_S = search.DEFAULT_TIME_LIMIT_S
# Time for the worker to start and answer on top of the search's own time limit.
_WORKER_SLACK_S = 60.0


@dataclasses.dataclass(frozen=True)
class _SearchRequest:
    text: str
    allowed: dict[str, schedule.PassInfo]
    options: search.SearchOptions
    expected: dict[str, ir.FunctionSignature] | None
    states_sent: int


@dataclasses.dataclass(frozen=True)
class _PipelineRequest:
    text: str
    passes: tuple[str, ...]
    allowed: dict[str, schedule.PassInfo]


class WorkerCrash(Exception):
    """The worker died or ran out of time; `last_pass` is the pass it had announced, if any."""

    def __init__(self, reason: str, last_pass: str | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.last_pass = last_pass


# --- the worker side ------------------------------------------------------------------------------


def _crash_if_injected(passes) -> None:
    if os.environ.get(CRASH_ON_PASS_VARIABLE) in passes:
        os.kill(os.getpid(), signal.SIGSEGV)


def _search(request: _SearchRequest, connection: multiprocessing.connection.Connection) -> dict:
    module = ir.parse_module(request.text, ir.new_context())
    expected = request.expected
    keep = None if expected is None else (lambda candidate: ir.signature_mismatch(candidate, expected) is None)
    def before_run(name: str) -> None:
        connection.send(("run", name))
        _crash_if_injected([name])

    result = search.search(module, request.allowed, request.options, keep=keep, before_run=before_run)
    initial_cost = result.initial.cost
    sent = 0
    ranked = []
    for state in result.ranked:
        text = None
        if state.cost < initial_cost and sent < request.states_sent:
            text, sent = ir.print_ir(state.module, generic=True), sent + 1
        ranked.append((state.pipeline, state.cost, text))
    return {"ranked": ranked, "runs": result.runs, "failed_runs": result.failed_runs,
            "stopped": result.stopped, "seconds": result.seconds}


def _apply(request: _PipelineRequest) -> dict:
    module = ir.parse_module(request.text, ir.new_context())
    _crash_if_injected(request.passes)
    result = schedule.apply_pipeline(module, request.passes, request.allowed)
    text = None if result.module is None else ir.print_ir(result.module, generic=True)
    return {"text": text, "pipeline": result.pipeline, "diagnostics": [str(d) for d in result.diagnostics]}


def _serve(connection: multiprocessing.connection.Connection, memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for name in [name for name, value in os.environ.items() if sandbox.is_credential(name, value)]:
        del os.environ[name]
    while True:
        request = connection.recv()
        if request is None:
            return
        try:
            answer = _search(request, connection) if isinstance(request, _SearchRequest) else _apply(request)
            connection.send(("done", answer))
        except (ir.IrError, search.CostError) as error:
            connection.send(("error", str(error)))


# --- the caller side ------------------------------------------------------------------------------


class SearchWorker:
    """One worker process, started on first use and replaced after a crash; one request at a time."""

    def __init__(self, memory_bytes: int = sandbox.DEFAULT_MEMORY_BYTES) -> None:
        self.memory_bytes = memory_bytes
        self._worker: worker_process.WorkerProcess | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stops the worker (it is started again when needed)."""
        self._stop(kill=False)

    def _stop(self, kill: bool) -> None:
        if self._worker is not None:
            self._worker.stop(kill=kill)
            self._worker = None

    def _ask(self, request: object, timeout_s: float) -> dict:
        """The worker's answer; raises WorkerCrash when it dies or is late, ValueError when it refused
        the request (the text does not parse, the cost cannot be measured)."""
        if self._worker is None or not self._worker.process.is_alive():
            self._stop(kill=True)
            self._worker = worker_process.WorkerProcess(_serve, (self.memory_bytes,), daemon=True)
        connection, process = self._worker.connection, self._worker.process
        connection.send(request)
        deadline = time.monotonic() + timeout_s
        last_pass = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._stop(kill=True)
                raise WorkerCrash(f"ran longer than {timeout_s:g} s", last_pass)
            if not connection.poll(min(remaining, 1.0)) and process.is_alive():
                continue
            try:
                kind, payload = connection.recv()
            except (EOFError, OSError):
                process.join(timeout=5)
                reason = sandbox.describe_exit(process.exitcode or 0)
                self._stop(kill=True)
                raise WorkerCrash(reason, last_pass) from None
            if kind == "run":
                last_pass = payload
            elif kind == "done":
                return payload
            else:
                raise ValueError(payload)

    def search(self, module: mlir.Operation, allowed: Mapping[str, schedule.PassInfo],
               options: search.SearchOptions,
               expected: Mapping[str, ir.FunctionSignature] | None = None,
               states_sent: int = 3) -> search.SearchResult:
        """passlib.search.search on `module` in the worker (see the module docstring), keeping only states
        that define `expected`'s functions with their signatures; the `states_sent` best states cheaper
        than the input have their module, the others None. Raises CostError as the search does."""
        allowed = dict(allowed)
        crashed: list[str] = []
        text = ir.print_ir(module, generic=True)
        context = module.operation.context
        with self._lock:
            while True:
                request = _SearchRequest(text, allowed, options, None if expected is None else dict(expected),
                                         states_sent)
                try:
                    answer = self._ask(request, options.time_limit_s + _WORKER_SLACK_S)
                    break
                except WorkerCrash as crash:
                    if crash.last_pass is None or crash.last_pass not in allowed or len(crashed) >= MAX_CRASHES:
                        raise search.CostError(f"the search worker {crash.reason}") from None
                    crashed.append(f"{crash.last_pass}: {crash.reason}")
                    del allowed[crash.last_pass]
                except ValueError as refused:
                    raise search.CostError(str(refused)) from None
        ranked = [search.State(tuple(pipeline), cost, None if text is None else ir.parse_module(text, context))
                  for pipeline, cost, text in answer["ranked"]]
        return search.SearchResult(ranked, answer["runs"], answer["failed_runs"], answer["stopped"],
                                   answer["seconds"], crashed)

    def apply_pipeline(self, module: mlir.Operation, passes: list[str],
                       allowed: Mapping[str, schedule.PassInfo],
                       timeout_s: float = PIPELINE_TIMEOUT_S) -> schedule.PipelineResult:
        """schedule.apply_pipeline in the worker; a crash is a failed pipeline that says so."""
        text = schedule.pipeline_text(passes, allowed)
        with self._lock:
            try:
                answer = self._ask(_PipelineRequest(ir.print_ir(module, generic=True), tuple(passes), dict(allowed)),
                                   timeout_s)
            except WorkerCrash as crash:
                return schedule.PipelineResult(None, text, [ir.Diagnostic(f"the pass pipeline {crash.reason} "
                                                                          "in passlib's worker process")])
            except ValueError as refused:
                return schedule.PipelineResult(None, text, [ir.Diagnostic(str(refused))])
        if answer["text"] is None:
            return schedule.PipelineResult(None, answer["pipeline"],
                                           [ir.Diagnostic(d) for d in answer["diagnostics"]])
        result = ir.parse_module(answer["text"], module.operation.context)
        return schedule.PipelineResult(result, answer["pipeline"], [], ir.count_ops(result))


_shared: SearchWorker | None = None
_shared_lock = threading.Lock()


def shared() -> SearchWorker:
    """The process's worker (stopped at exit)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SearchWorker()
            atexit.register(_shared.close)
        return _shared
