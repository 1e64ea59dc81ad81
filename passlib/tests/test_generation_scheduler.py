"""The generation scheduler with a fake runtime: turns, admission by pages, cancellation, limits.

The fake runtime "decodes" token t as the letter chr(ord('a') + t % 26), continues a prompt by
counting up from its last id, and records the order of every prefill and step, so that the tests
can see who ran when. Each step sleeps a little, as a real decode would.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from passlib import model_service
from passlib.generation_scheduler import Failed, Finished, GenerationScheduler, Piece, Started, Unavailable

STEP_S = 0.002
PAGES_PER_SEQUENCE = 2


class FakeSequence:
    def __init__(self, runtime, name, prompt_ids, max_new_tokens, stop_token_ids, pages):
        self.runtime, self.name, self.max_new_tokens = runtime, name, max_new_tokens
        self.stop_token_ids, self.pages = set(stop_token_ids), pages
        self.tokens = [prompt_ids[-1] + 1]
        runtime.log.append(("prefill", name))

    @property
    def stopped_at_stop_token(self):
        return self.tokens[-1] in self.stop_token_ids

    @property
    def finished(self):
        return self.stopped_at_stop_token or len(self.tokens) >= self.max_new_tokens

    def step(self):
        assert self.pages, "stepped after release"
        time.sleep(self.runtime.step_s)
        self.runtime.log.append(("step", self.name))
        self.tokens.append(self.tokens[-1] + 1)

    def release(self):
        self.runtime.free_cache_pages += len(self.pages)
        self.pages = []


class FakeRuntime:
    def __init__(self, cache_pages, step_s):
        self.cache_pages = self.free_cache_pages = cache_pages
        self.cached_prefix_pages = self.reused_prefix_pages = 0  # no prefix cache
        self.step_s = step_s
        self.log = []

    def sequence_pages(self, prompt_length, max_new_tokens):
        return PAGES_PER_SEQUENCE

    def start_sequence(self, prompt_ids, max_new_tokens, stop_token_ids, seed=None, temperature=0.0):
        assert self.free_cache_pages >= PAGES_PER_SEQUENCE, "admitted without free pages"
        self.free_cache_pages -= PAGES_PER_SEQUENCE
        return FakeSequence(self, chr(prompt_ids[0]), prompt_ids, max_new_tokens, stop_token_ids,
                            [0] * PAGES_PER_SEQUENCE)

    @staticmethod
    def decode(ids):
        return "".join(chr(ord("a") + token % 26) for token in ids)


class FakeService:
    """prepare() of ModelService: the prompt is request.context; text "bad" is a BadRequest."""

    def __init__(self, cache_pages=64, step_s=STEP_S):
        self.runtime = FakeRuntime(cache_pages, step_s)

    def prepare(self, request):
        if request.text == "bad":
            raise model_service.BadRequest("the prompt is bad")
        return model_service.PreparedGeneration(list(request.context), request.max_new_tokens, [], 0.0, None,
                                                tuple(request.stop))


def request(name: str, tokens: int, stop=(), start: int = 0) -> model_service.GenerationRequest:
    """A request whose sequence is named `name` and counts up from letter `start`."""
    return model_service.GenerationRequest(context=[ord(name), start - 1 + 26 * 1000], max_new_tokens=tokens,
                                           stop=stop)


async def events_of(job) -> list:
    events = []
    while not events or not isinstance(events[-1], (Finished, Failed)):
        events.append(await asyncio.wait_for(job.next_event(), 10))
    return events


def run(scheduler, coroutine):
    scheduler.start()
    try:
        return asyncio.run(coroutine)
    finally:
        scheduler.close()


def test_a_short_request_finishes_while_a_long_one_runs_and_steps_take_turns():
    service = FakeService()
    scheduler = GenerationScheduler(service)

    async def scenario():
        long_job = scheduler.submit(request("L", 40))
        short_job = scheduler.submit(request("S", 3))
        short = await events_of(short_job)
        running_when_short_ended = scheduler.status()["running_requests"]
        return await events_of(long_job), short, running_when_short_ended

    long_events, short_events, running = run(scheduler, scenario())
    assert running == 1, "the long request was still running when the short one had finished"
    assert isinstance(short_events[0], Started) and isinstance(short_events[-1], Finished)
    assert "".join(event.text for event in short_events if isinstance(event, Piece)) == "abc"
    assert short_events[-1].generation.finish_reason == model_service.LENGTH
    assert short_events[-1].generation.output_ids == [26000, 26001, 26002]
    log = service.runtime.log
    steps_after_s_joined = [name for kind, name in log[log.index(("prefill", "S")):] if kind == "step"]
    assert steps_after_s_joined[:4] == ["L", "S", "L", "S"]  # one step each in turn
    assert len(long_events[-1].generation.output_ids) == 40
    assert service.runtime.free_cache_pages == service.runtime.cache_pages


def test_each_token_is_handed_out_as_a_piece_before_the_next_step():
    service = FakeService()
    scheduler = GenerationScheduler(service)

    async def scenario():
        job = scheduler.submit(request("A", 30))
        arrivals = []
        while True:
            event = await job.next_event()
            arrivals.append((type(event).__name__, time.monotonic()))
            if isinstance(event, Finished):
                return arrivals

    arrivals = run(scheduler, scenario())
    pieces = [moment for kind, moment in arrivals if kind == "Piece"]
    assert len(pieces) == 30
    assert pieces[-1] - pieces[0] >= 29 * STEP_S * 0.9  # spread over the steps, not sent at the end


def test_requests_wait_for_pages_and_are_admitted_in_arrival_order():
    service = FakeService(cache_pages=2 * PAGES_PER_SEQUENCE)
    scheduler = GenerationScheduler(service)

    async def scenario():
        jobs = [scheduler.submit(request(name, 5)) for name in "ABCD"]
        return [await events_of(job) for job in jobs]

    results = run(scheduler, scenario())
    assert all(isinstance(events[-1], Finished) for events in results)
    log = service.runtime.log
    prefills = [(index, name) for index, (kind, name) in enumerate(log) if kind == "prefill"]
    assert [name for _, name in prefills] == ["A", "B", "C", "D"]
    last_step_of = {name: max(index for index, entry in enumerate(log) if entry == ("step", name)) for name in "AB"}
    assert prefills[2][0] > min(last_step_of.values()), "C started before A or B gave its pages back"
    assert service.runtime.free_cache_pages == service.runtime.cache_pages


def test_a_full_queue_is_unavailable_and_max_sequences_bounds_the_running():
    service = FakeService()
    scheduler = GenerationScheduler(service, queue_size=1, max_sequences=1)

    async def scenario():
        first = scheduler.submit(request("A", 200))
        await first.next_event()  # Started: A runs, the queue is empty again
        second = scheduler.submit(request("B", 2))
        with pytest.raises(Unavailable, match="--queue-size 1"):
            scheduler.submit(request("C", 2))
        assert scheduler.status()["queued_requests"] == 1 and scheduler.status()["running_requests"] == 1
        first.cancel()
        return await events_of(second)

    events = run(scheduler, scenario())
    assert isinstance(events[-1], Finished)


def test_a_cancelled_request_stops_at_once_and_gives_its_pages_back():
    service = FakeService(cache_pages=PAGES_PER_SEQUENCE)
    scheduler = GenerationScheduler(service)

    async def scenario():
        doomed = scheduler.submit(request("A", 10_000))
        assert isinstance(await doomed.next_event(), Started)
        waiting = scheduler.submit(request("B", 3))  # no pages left until A is gone
        waiting_gone = scheduler.submit(request("C", 3))
        waiting_gone.cancel()
        await doomed.next_event()
        doomed.cancel()
        return await events_of(waiting)

    events = run(scheduler, scenario())
    assert isinstance(events[-1], Finished)
    steps_of_a = sum(1 for entry in service.runtime.log if entry == ("step", "A"))
    assert steps_of_a < 100
    assert ("prefill", "C") not in service.runtime.log
    assert service.runtime.free_cache_pages == service.runtime.cache_pages


def test_time_limits_end_running_requests_and_fail_waiting_ones():
    # A's first step outlasts the limit: B's time runs out while it waits for A's pages.
    service = FakeService(cache_pages=PAGES_PER_SEQUENCE, step_s=0.3)
    scheduler = GenerationScheduler(service, request_timeout_s=0.2)

    async def scenario():
        running = scheduler.submit(request("A", 1_000_000))
        waiting = scheduler.submit(request("B", 3))
        return await events_of(running), await events_of(waiting)

    running_events, waiting_events = run(scheduler, scenario())
    generation = running_events[-1].generation
    assert generation.finish_reason == model_service.LENGTH and 1 <= len(generation.output_ids) < 5
    assert isinstance(waiting_events[-1], Failed) and isinstance(waiting_events[-1].error, Unavailable)
    assert "--request-timeout" in str(waiting_events[-1].error)


def test_bad_requests_fail_without_running_and_stop_strings_end_the_answer():
    service = FakeService()
    scheduler = GenerationScheduler(service)

    async def scenario():
        bad = scheduler.submit(model_service.GenerationRequest(text="bad", context=[1]))
        stopped = scheduler.submit(request("S", 100, stop=["efg"]))
        return await events_of(bad), await events_of(stopped)

    bad_events, stopped_events = run(scheduler, scenario())
    assert len(bad_events) == 1 and isinstance(bad_events[0].error, model_service.BadRequest)
    pieces = [event.text for event in stopped_events if isinstance(event, Piece)]
    generation = stopped_events[-1].generation
    assert "".join(pieces) == generation.text == "abcd"
    assert generation.finish_reason == model_service.STOP and len(generation.output_ids) == 7
    assert [name for kind, name in service.runtime.log if kind == "prefill"] == ["S"]
