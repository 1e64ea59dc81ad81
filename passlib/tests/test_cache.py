"""Tests of passlib.cache: keys, hits and misses, corruption, concurrent and killed writers."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from passlib import backends, cache, prompts
from passlib.tests import llm_server

PROMPT = prompts.Prompt("You rewrite MLIR.", "Rewrite @f.", tokens=10, examples_included=0, examples_available=0)
GREEDY = backends.DecodingOptions(max_new_tokens=64)


def _completion(text: str) -> backends.Completion:
    return backends.Completion(text, prompt_tokens=10, completion_tokens=len(text.split()), latency_s=0.5,
                               finish_reason="stop")


def test_key_depends_on_model_prompt_and_options():
    key = cache.cache_key("iree:sha256:aa", PROMPT, GREEDY)
    assert key == cache.cache_key("iree:sha256:aa", PROMPT, backends.DecodingOptions(max_new_tokens=64))
    assert key != cache.cache_key("iree:sha256:bb", PROMPT, GREEDY)
    other_prompt = prompts.Prompt(PROMPT.system, PROMPT.user + " ", 10, 0, 0)
    assert key != cache.cache_key("iree:sha256:aa", other_prompt, GREEDY)
    sampled = backends.DecodingOptions(max_new_tokens=64, temperature=0.7, seed=3)
    assert key != cache.cache_key("iree:sha256:aa", PROMPT, sampled)
    # Greedy decoding ignores the seed, so the seed does not split the cache.
    assert key == cache.cache_key("iree:sha256:aa", PROMPT, backends.DecodingOptions(max_new_tokens=64, seed=9))


def test_store_then_hit(tmp_path):
    store = cache.ResponseCache(tmp_path)
    key = cache.cache_key("m", PROMPT, GREEDY)
    assert store.lookup(key) == (None, cache.MISS)
    store.store(key, _completion("```mlir\nfunc.func @f() {\n  return\n}\n```"))
    found, status = cache.ResponseCache(tmp_path).lookup(key)
    assert status == cache.HIT
    assert found == _completion("```mlir\nfunc.func @f() {\n  return\n}\n```")
    assert not list(tmp_path.glob("*/.*.tmp"))


@pytest.mark.parametrize("damage", ["flip_text", "truncate", "not_json", "wrong_key"])
def test_corrupt_entries_are_detected_and_rebuilt(tmp_path, damage):
    store = cache.ResponseCache(tmp_path)
    with llm_server.CannedLlmServer(["the rebuilt answer"]) as server:
        backend = backends.OllamaBackend("canned", server.url, timeout_s=5)
        key = cache.cache_key(backend.identity(), PROMPT, GREEDY)
        store.store(key, _completion("the original answer"))
        path = store.path(key)
        raw = path.read_bytes()
        if damage == "flip_text":
            path.write_bytes(raw.replace(b"original", b"poisoned"))
        elif damage == "truncate":
            path.write_bytes(raw[: len(raw) // 2])
        elif damage == "not_json":
            path.write_bytes(b"\x00\xff garbage")
        else:
            entry = json.loads(raw)
            entry["key"] = "0" * 64
            path.write_text(json.dumps(entry))
        assert store.lookup(key) == (None, cache.CORRUPT)
        completion, status = cache.complete(backend, store, PROMPT, GREEDY)
        assert status == cache.CORRUPT
        assert completion.text == "the rebuilt answer"
        assert len(server.requests) == 1
        again, status = cache.complete(backend, store, PROMPT, GREEDY)
        assert status == cache.HIT and again.text == "the rebuilt answer"
        assert len(server.requests) == 1


def test_cache_only_mode_never_calls_the_model(tmp_path):
    with llm_server.CannedLlmServer(["an answer"]) as server:
        backend = backends.OllamaBackend("canned", server.url, timeout_s=5)
        filling = cache.ResponseCache(tmp_path)
        cache.complete(backend, filling, PROMPT, GREEDY)
        reading = cache.ResponseCache(tmp_path, cache_only=True)
        completion, status = cache.complete(backend, reading, PROMPT, GREEDY)
        assert status == cache.HIT and completion.text == "an answer"
        other = prompts.Prompt(PROMPT.system, "Rewrite @g.", 10, 0, 0)
        with pytest.raises(cache.CacheMiss) as error:
            cache.complete(backend, reading, other, GREEDY)
        assert error.value.kind == "cache_miss" and "missing" in str(error.value)
        assert len(server.requests) == 1


def _writer(directory: str, text: str, rounds: int) -> None:
    store = cache.ResponseCache(pathlib.Path(directory))
    key = cache.cache_key("m", PROMPT, GREEDY)
    for _ in range(rounds):
        store.store(key, _completion(text))
        found, status = store.lookup(key)
        assert status == cache.HIT, status
        assert found.text.startswith("writer"), found.text


def test_concurrent_writers_of_one_key_never_leave_a_torn_entry(tmp_path):
    spawn = multiprocessing.get_context("spawn")
    texts = [f"writer {index} " + "x" * (50_000 * (index + 1)) for index in range(4)]
    workers = [spawn.Process(target=_writer, args=(str(tmp_path), text, 40)) for text in texts]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    found, status = cache.ResponseCache(tmp_path).lookup(cache.cache_key("m", PROMPT, GREEDY))
    assert status == cache.HIT and found.text in texts
    assert not list(tmp_path.glob("*/.*.tmp"))


_KILLED_WRITER = """
import pathlib, sys
from passlib import backends, cache, prompts
store = cache.ResponseCache(pathlib.Path(sys.argv[1]))
index = 0
print("started", flush=True)
while True:
    prompt = prompts.Prompt("s", f"prompt {index}", 1, 0, 0)
    key = cache.cache_key("m", prompt, backends.DecodingOptions())
    store.store(key, backends.Completion("y" * 2_000_000, 1, 1, 0.1, "stop"))
    index += 1
"""


def test_a_killed_writer_leaves_whole_entries_or_none(tmp_path):
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    writer = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(tmp_path)],
                              stdout=subprocess.PIPE, env=environment)
    assert writer.stdout.readline().strip() == b"started"
    time.sleep(1.0)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=30)
    store = cache.ResponseCache(tmp_path, cache_only=True)
    entries = list(tmp_path.glob("*/*.json"))
    assert entries, "the writer stored nothing before it was killed"
    for entry in entries:
        found, status = store.lookup(entry.stem)
        assert status == cache.HIT and len(found.text) == 2_000_000
    stale = list(tmp_path.glob("*/.*.tmp"))
    old = time.time() - 2 * 3600
    for leftover in stale:
        os.utime(leftover, (old, old))
    cache.ResponseCache(tmp_path)
    assert not list(tmp_path.glob("*/.*.tmp"))


@pytest.mark.parametrize("text", [
    "a lone surrogate \ud800 in an answer",
    "a reversed pair \udc00\ud800, a pair as two characters \ud800\udc00 and a whole one \U0001f600",
    "NUL \x00, a BOM \ufeff, a line separator \u2028 and JSON's own \\u0000 \" \\",
])
def test_any_text_is_stored_and_read_back_identical(tmp_path, text):
    store = cache.ResponseCache(tmp_path)
    key = cache.cache_key("m", PROMPT, GREEDY)
    store.store(key, _completion(text))
    found, status = cache.ResponseCache(tmp_path, cache_only=True).lookup(key)
    assert status == cache.HIT and found.text == text


def test_a_prompt_holding_a_lone_surrogate_has_a_key_of_its_own():
    """Retry prompts quote the previous answer, surrogates included."""
    surrogate = prompts.Prompt(PROMPT.system, "Rewrite @f: \ud800", 10, 0, 0)
    replaced = prompts.Prompt(PROMPT.system, "Rewrite @f: \ufffd", 10, 0, 0)
    assert cache.cache_key("m", surrogate, GREEDY) != cache.cache_key("m", replaced, GREEDY)


@pytest.mark.parametrize("content", [
    b"[" * 100_000,
    b'{"format": 1, "completion": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    b'{"format": 1, "key": "k", "completion": {"text": "x"}, "checksum": 1' + b"0" * 5000 + b"}",
])
def test_hostile_entries_are_corrupt_not_a_crash(tmp_path, content):
    store = cache.ResponseCache(tmp_path)
    key = cache.cache_key("m", PROMPT, GREEDY)
    store.path(key).parent.mkdir(parents=True)
    store.path(key).write_bytes(content)
    assert store.lookup(key) == (None, cache.CORRUPT)


@pytest.mark.parametrize("fields", [
    {"text": 5, "prompt_tokens": 1, "completion_tokens": 1, "latency_s": 0.1, "finish_reason": "stop"},
    {"text": "x", "prompt_tokens": "1", "completion_tokens": 1, "latency_s": 0.1, "finish_reason": "stop"},
    {"text": "x", "prompt_tokens": 1, "completion_tokens": 1, "latency_s": "slow", "finish_reason": "stop"},
    {"text": "x", "prompt_tokens": 1, "completion_tokens": 1, "latency_s": 0.1, "finish_reason": ["stop"]},
])
def test_an_entry_with_fields_of_the_wrong_type_is_corrupt_even_with_its_checksum(tmp_path, fields):
    store = cache.ResponseCache(tmp_path)
    key = cache.cache_key("m", PROMPT, GREEDY)
    store.path(key).parent.mkdir(parents=True)
    entry = {"format": cache.CACHE_FORMAT, "key": key, "completion": fields, "checksum": cache._checksum(key, fields)}
    store.path(key).write_text(json.dumps(entry))
    assert store.lookup(key) == (None, cache.CORRUPT)


def test_keys_and_entries_written_before_still_hit(tmp_path):
    """Keys and checksums of text without surrogates are as they were (UTF-8 JSON), so caches filled
    before stay valid; an entry written with non-ASCII text kept as UTF-8 is still a hit."""
    prompt = prompts.Prompt(PROMPT.system, "Rewrite @f: grüße → ∑", 10, 0, 0)
    key = cache.cache_key("iree:sha256:aa", prompt, GREEDY)
    assert key == "f6a97363e3059129a27dae1bd2facd38c701c04f877a50a10702c75d2cc82293"
    fields = dataclasses.asdict(_completion("grüße → ∑"))
    signed = json.dumps({"key": key, "completion": fields}, sort_keys=True, separators=(",", ":"),
                        ensure_ascii=False)
    entry = {"format": cache.CACHE_FORMAT, "key": key, "completion": fields,
             "checksum": hashlib.sha256(signed.encode("utf-8")).hexdigest()}
    store = cache.ResponseCache(tmp_path)
    store.path(key).parent.mkdir(parents=True)
    store.path(key).write_bytes(json.dumps(entry, ensure_ascii=False).encode("utf-8"))
    found, status = store.lookup(key)
    assert status == cache.HIT and found.text == "grüße → ∑"
