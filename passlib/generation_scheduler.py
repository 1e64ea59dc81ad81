"""The model thread of passlib's server: one thread owns the runtime and requests take turns on it.

Requests join a bounded waiting queue (`submit` raises Unavailable when it is full: the server
answers 503 with Retry-After). The model thread works in rounds; each round it

  1. drops what is over: waiting requests whose client went away (`GenerationJob.cancel`) or whose
     time is up, and running ones likewise, releasing their KV-cache pages at once;
  2. admits at most one waiting request, in arrival order: tokenizes it (here, since the runtime's
     tokenizer belongs to this thread) and, once a sequence slot and the KV-cache pages for its prompt
     and token limit are free, prefills it, which chooses its first token. Until then it waits, and
     the requests behind it wait too;
  3. advances every running request by one decode step.

So requests join and leave between steps, and a short request is not stuck behind a long one. The
bundle's decode is exported at batch size 1: the steps of different requests are interleaved, one
dispatch each, not batched into one dispatch. The tokens per second of the model are those of one
sequence, shared among the running requests; a prefill holds up everyone's next step while it runs.

Each event of a request (Started, Piece, Finished, Failed) is put on its asyncio queue the moment
it happens (loop.call_soon_threadsafe): a response streams each piece as soon as it is sampled.
Pieces are cut at token boundaries and held back while they could be the start of a stop string
(passlib.serve_text). A request that runs past its time limit ends there with finish reason
"length"; one that waited past it without starting fails with Unavailable.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import threading
import time

from artifacts.runtime import RunningSequence
from passlib import model_service, serve_text

logger = logging.getLogger(__name__)
# How long the model thread sleeps after a round in which it could do nothing (it is woken sooner
# by a new request).
IDLE_ROUND_S = 0.05


class Unavailable(Exception):
    """The server cannot take the request now (queue full, waited too long, shutting down): 503."""


@dataclasses.dataclass(frozen=True)
class Started:
    """The request was admitted and its prompt prefilled; pieces follow."""

    prompt_ids: list[int]


@dataclasses.dataclass(frozen=True)
class Piece:
    """Text of the answer that may be sent now."""

    text: str


@dataclasses.dataclass(frozen=True)
class Finished:
    """The answer is complete (the last event)."""

    generation: model_service.Generation


@dataclasses.dataclass(frozen=True)
class Failed:
    """The request failed (the last event): BadRequest, Unavailable, or an unexpected error."""

    error: Exception


Event = Started | Piece | Finished | Failed


class GenerationJob:
    """One request in the scheduler, as the event loop sees it: its events, and a way to cancel it."""

    def __init__(self, request: model_service.GenerationRequest, loop: asyncio.AbstractEventLoop,
                 deadline: float | None) -> None:
        self.request = request
        self.deadline = deadline
        self._loop = loop
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._cancelled = threading.Event()
        # Set on the model thread once the request is tokenized.
        self.prepared: model_service.PreparedGeneration | None = None

    async def next_event(self) -> Event:
        """The next event of the request (the last one is Finished or Failed)."""
        return await self._events.get()

    def cancel(self) -> None:
        """Ends the request (its client went away); the model thread drops it before its next step.
        Harmless once the request is over."""
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def emit(self, event: Event) -> None:
        """Hands an event to the request's queue, from the model thread."""
        try:
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)
        except RuntimeError:  # the event loop is closed: the server is gone, and nobody listens
            pass


@dataclasses.dataclass
class _Running:
    """A running request on the model thread: its sequence in the KV cache and its answer text."""

    job: GenerationJob
    prepared: model_service.PreparedGeneration
    sequence: RunningSequence
    text: serve_text.AnswerText
    prefill_s: float
    first_token_at: float


class GenerationScheduler:
    """Runs requests on one model thread, a decode step of each running request in turn."""

    def __init__(self, service: model_service.ModelService, queue_size: int = 64, max_sequences: int = 8,
                 request_timeout_s: float | None = None) -> None:
        if queue_size < 1 or max_sequences < 1:
            raise ValueError("the queue size and the number of sequences must be at least 1")
        self.service = service
        self.queue_size = queue_size
        self.max_sequences = max_sequences
        self.request_timeout_s = request_timeout_s
        self._runtime = service.runtime
        self._condition = threading.Condition()
        self._waiting: collections.deque[GenerationJob] = collections.deque()
        self._running: list[_Running] = []
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="passlib-model", daemon=True)

    # --- from the event loop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the model thread."""
        self._thread.start()

    def close(self, timeout_s: float = 30.0) -> None:
        """Stops the model thread: running and waiting requests fail with Unavailable."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def submit(self, request: model_service.GenerationRequest) -> GenerationJob:
        """Queues a request (from a coroutine); Unavailable when the waiting queue is full."""
        deadline = None if self.request_timeout_s is None else time.monotonic() + self.request_timeout_s
        job = GenerationJob(request, asyncio.get_running_loop(), deadline)
        with self._condition:
            if self._closing:
                raise Unavailable("the server is shutting down")
            if len(self._waiting) >= self.queue_size:
                raise Unavailable(f"the server is busy: {len(self._waiting)} requests are waiting for the model "
                                  f"(--queue-size {self.queue_size}); try again later")
            self._waiting.append(job)
            self._condition.notify_all()
        return job

    def status(self) -> dict[str, int]:
        """Requests waiting and running; the KV-cache pages in all, free (cached prefixes that no
        request holds count as free), caching prompt prefixes, and reused from the prefix cache."""
        return {
            "queued_requests": len(self._waiting),
            "running_requests": len(self._running),
            "cache_pages": self._runtime.cache_pages,
            "free_cache_pages": self._runtime.free_cache_pages,
            "cached_prefix_pages": self._runtime.cached_prefix_pages,
            "reused_prefix_pages": self._runtime.reused_prefix_pages,
        }

    # --- the model thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while self._wait_for_work():
                try:
                    busy = self._round()
                except Exception:  # a bug here must not stop the thread every request depends on
                    logger.exception("a scheduling round failed")
                    busy = False
                if not busy:
                    with self._condition:
                        self._condition.wait(IDLE_ROUND_S)
        finally:
            self._fail_everything(Unavailable("the server is shutting down"))

    def _wait_for_work(self) -> bool:
        with self._condition:
            while not self._closing and not self._waiting and not self._running:
                self._condition.wait()
            return not self._closing

    def _round(self) -> bool:
        """One round (drop, admit, step); whether it did anything."""
        self._drop_waiting(time.monotonic())
        admitted = self._admit_one()
        for running in list(self._running):
            self._advance(running)
        return admitted or bool(self._running)

    def _drop_waiting(self, now: float) -> None:
        with self._condition:
            gone = [job for job in self._waiting if job.cancelled or job.expired(now)]
            for job in gone:
                self._waiting.remove(job)
        for job in gone:
            if not job.cancelled:
                job.emit(Failed(Unavailable(
                    f"the request waited {self.request_timeout_s:g} s (--request-timeout) without starting; "
                    "the server is busy, try again later")))

    def _pop_waiting(self, job: GenerationJob) -> None:
        with self._condition:
            self._waiting.remove(job)

    def _admit_one(self) -> bool:
        """Admits the first waiting request if it can run now; whether anything changed."""
        with self._condition:
            job = self._waiting[0] if self._waiting else None
        if job is None:
            return False
        if job.prepared is None:
            try:
                job.prepared = self.service.prepare(job.request)
            except Exception as error:  # BadRequest, or a tokenizer failure: answered, not fatal
                self._pop_waiting(job)
                self._log_unexpected(error, "preparing a request")
                job.emit(Failed(error))
                return True
        prepared = job.prepared
        if prepared.max_new_tokens == 0:
            self._pop_waiting(job)
            job.emit(Started(prepared.prompt_ids))
            job.emit(Finished(model_service.Generation("", prepared.prompt_ids, [], model_service.LENGTH, 0.0, 0.0)))
            return True
        pages = self._runtime.sequence_pages(len(prepared.prompt_ids), prepared.max_new_tokens)
        if len(self._running) >= self.max_sequences or pages > self._runtime.free_cache_pages:
            return False
        self._pop_waiting(job)
        started = time.monotonic()
        try:
            sequence = self._runtime.start_sequence(
                prepared.prompt_ids, prepared.max_new_tokens, prepared.stop_token_ids,
                seed=prepared.seed, temperature=prepared.temperature)
        except Exception as error:
            self._log_unexpected(error, "prefilling a request")
            job.emit(Failed(error))
            return True
        now = time.monotonic()
        running = _Running(job, prepared, sequence, serve_text.AnswerText(self._runtime.decode, prepared.stop),
                           prefill_s=now - started, first_token_at=now)
        self._running.append(running)
        job.emit(Started(prepared.prompt_ids))
        self._take_token(running)
        return True

    def _advance(self, running: _Running) -> None:
        """One decode step of a running request, or its end (cancelled, out of time)."""
        job = running.job
        if job.cancelled:
            self._remove(running)
            return
        if job.expired(time.monotonic()):
            self._finish(running)
            return
        try:
            running.sequence.step()
            self._take_token(running)
        except Exception as error:
            self._remove(running)
            self._log_unexpected(error, "decoding a request")
            job.emit(Failed(error))

    def _take_token(self, running: _Running) -> None:
        """Streams what the newest token adds to the text; finishes the request when it ends it."""
        piece = running.text.add(running.sequence.tokens[-1])
        if piece:
            running.job.emit(Piece(piece))
        if running.sequence.finished or running.text.stopped:
            self._finish(running)

    def _finish(self, running: _Running) -> None:
        rest = running.text.finish()
        if rest:
            running.job.emit(Piece(rest))
        self._remove(running)
        sequence = running.sequence
        stopped = running.text.stopped or sequence.stopped_at_stop_token
        running.job.emit(Finished(model_service.Generation(
            text=running.text.text,
            prompt_ids=running.prepared.prompt_ids,
            output_ids=list(sequence.tokens),
            finish_reason=model_service.STOP if stopped else model_service.LENGTH,
            prefill_s=running.prefill_s,
            decode_s=time.monotonic() - running.first_token_at,
        )))

    def _remove(self, running: _Running) -> None:
        running.sequence.release()
        self._running.remove(running)

    def _fail_everything(self, error: Exception) -> None:
        for running in list(self._running):
            self._remove(running)
            running.job.emit(Failed(error))
        with self._condition:
            waiting, self._waiting = list(self._waiting), collections.deque()
        for job in waiting:
            job.emit(Failed(error))

    @staticmethod
    def _log_unexpected(error: Exception, doing: str) -> None:
        if not isinstance(error, model_service.BadRequest):
            logger.error("%s failed", doing, exc_info=error)
