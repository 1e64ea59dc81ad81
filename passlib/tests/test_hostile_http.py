"""Hostile HTTP servers on 127.0.0.1: whatever bytes come back, the backends raise a BackendError.

Every case goes through a real socket (passlib.tests.llm_server.ScriptedHttpServer writes the bytes)
and the backends' own HTTP client: no part of it is faked.
"""

from __future__ import annotations

import time

import pytest

from passlib import backends, prompts
from passlib.tests import llm_server

PROMPT = prompts.Prompt("You rewrite MLIR.", "Rewrite @f please.", 12, 0, 0)
OPTIONS = backends.DecodingOptions(max_new_tokens=16)
# How long past its deadline a request may take to give up (thread scheduling on a loaded machine).
DEADLINE_SLACK_S = 2.0


def _complete(steps: list[tuple[bytes, float]], timeout_s: float = 5.0) -> backends.BackendError:
    """The BackendError an Ollama backend raises against a server sending `steps`."""
    with llm_server.ScriptedHttpServer(steps) as server:
        backend = backends.OllamaBackend("m", server.url, timeout_s=timeout_s)
        with pytest.raises(backends.BackendError) as error:
            backend.complete(PROMPT, OPTIONS)
    return error.value


def _huge_answer() -> bytes:
    return b'{"response": "' + b"a" * backends.MAX_RESPONSE_BYTES + b'"}'


PROTOCOL_FAILURES = {
    "bad_status_line": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "status_not_a_number": b"HTTP/1.1 two-hundred OK\r\n\r\n",
    "nothing_at_all": b"",
    "too_many_headers": b"HTTP/1.1 200 OK\r\n" + b"X-Junk: 1\r\n" * 200 + b"\r\n{}",
    "truncated_body": b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b'{"response": "fun',
    "bad_chunk_size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "not_utf8": llm_server.http_response(b'{"response": "\xff\xfe func.func"}'),
    "not_json": llm_server.http_response(b"{'response': nope}"),
    "not_an_object": llm_server.http_response(b'["response"]'),
    "deeply_nested_array": llm_server.http_response(b"[" * 100_000 + b"]" * 100_000),
    "deeply_nested_field": llm_server.http_response(
        b'{"response": "x", "context": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}"),
    "integer_too_long": llm_server.http_response(b'{"response": "x", "eval_count": ' + b"9" * 5000 + b"}"),
    "response_not_text": llm_server.http_response(b'{"response": ["func.func"]}'),
}


@pytest.mark.parametrize("name", sorted(PROTOCOL_FAILURES))
def test_protocol_failures_are_backend_errors(name):
    error = _complete([(PROTOCOL_FAILURES[name], 0.0)])
    assert error.kind == "protocol", error
    assert len(str(error)) < 1000


def test_a_body_over_the_cap_is_refused():
    error = _complete([(llm_server.http_response(_huge_answer()), 0.0)], timeout_s=30)
    assert error.kind == "protocol" and str(backends.MAX_RESPONSE_BYTES) in str(error)


def test_a_body_over_the_cap_without_a_length_is_refused():
    """No Content-Length: the body runs until the server closes, and is still cut at the cap."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
    error = _complete([(head + _huge_answer(), 0.0)], timeout_s=30)
    assert error.kind == "protocol" and str(backends.MAX_RESPONSE_BYTES) in str(error)


@pytest.mark.parametrize("part", ["head", "body"])
def test_a_dribbling_server_meets_the_total_deadline(part):
    """One byte every 0.2 s never trips a per-read timeout of 1 s; the total deadline ends it."""
    response = llm_server.http_response(b'{"response": "' + b"a" * 400 + b'", "done": true}')
    split = response.index(b"\r\n\r\n") + 4
    steps = (llm_server.dribbled(response, 0.2) if part == "head"
             else [(response[:split], 0.0), *llm_server.dribbled(response[split:], 0.2)])
    started = time.monotonic()
    error = _complete(steps, timeout_s=1.0)
    elapsed = time.monotonic() - started
    assert error.kind == "timeout", error
    assert elapsed < 1.0 + DEADLINE_SLACK_S


def test_a_server_error_body_is_capped_and_bounded_in_time():
    """An error status whose body dribbles: the status is reported, the detail is short, and fast."""
    response = llm_server.http_response(b"overloaded " + b"x" * 100_000, status="503 Service Unavailable")
    started = time.monotonic()
    error = _complete([(response[:400], 0.0), *llm_server.dribbled(response[400:], 0.2)], timeout_s=1.0)
    assert error.kind == "server" and "503" in str(error)
    assert len(str(error)) < 1000
    assert time.monotonic() - started < 1.0 + DEADLINE_SLACK_S


def test_an_error_message_in_the_answer_is_capped():
    error = _complete([(llm_server.http_response(b'{"error": "' + b"e" * 1_000_000 + b'"}'), 0.0)])
    assert error.kind == "server" and len(str(error)) < 1000


def test_a_redirect_is_not_followed_and_the_key_goes_nowhere_else():
    with llm_server.ScriptedHttpServer([(llm_server.http_response(b"{}"), 0.0)]) as elsewhere:
        moved = llm_server.http_response(b"", status="302 Found", headers=(f"Location: {elsewhere.url}/steal",))
        with llm_server.ScriptedHttpServer([(moved, 0.0)]) as server:
            backend = backends.OpenAIBackend("m", server.url + "/v1", api_key="sk-test-secret", timeout_s=5)
            with pytest.raises(backends.BackendError) as error:
                backend.complete(PROMPT, OPTIONS)
        assert error.value.kind == "server" and "302" in str(error.value)
        assert elsewhere.requests == []
        assert "sk-test-secret" in server.requests[0]


def test_token_counts_and_finish_reason_of_the_wrong_type_are_dropped():
    body = (b'{"response": "ok", "prompt_eval_count": {"a": 1}, "eval_count": -3, '
            b'"done_reason": ["stop"]}')
    with llm_server.ScriptedHttpServer([(llm_server.http_response(body), 0.0)]) as server:
        completion = backends.OllamaBackend("m", server.url, timeout_s=5).complete(PROMPT, OPTIONS)
    assert completion.text == "ok"
    assert (completion.prompt_tokens, completion.completion_tokens, completion.finish_reason) == (None, None, None)


def test_a_lone_surrogate_in_the_answer_comes_back_as_text():
    """JSON may escape a lone surrogate; the answer keeps it (the parser rejects it later, with a reason)."""
    body = b'{"response": "func.func \\ud800 @f"}'
    with llm_server.ScriptedHttpServer([(llm_server.http_response(body), 0.0)]) as server:
        completion = backends.OllamaBackend("m", server.url, timeout_s=5).complete(PROMPT, OPTIONS)
    assert completion.text == "func.func \ud800 @f"


def test_the_auto_probe_gives_up_on_a_dribbling_server():
    """backend "auto" asks /api/tags first; a server that dribbles its list means no server."""
    response = llm_server.http_response(b'{"models": [' + b" " * 200 + b"]}")
    with llm_server.ScriptedHttpServer(llm_server.dribbled(response, 0.2)) as server:
        started = time.monotonic()
        backend = backends.create_backend("auto", endpoint=server.url)
    assert isinstance(backend, backends.UnavailableBackend)
    assert time.monotonic() - started < backends._AUTO_PROBE_TIMEOUT_S + DEADLINE_SLACK_S


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf"])
def test_a_timeout_must_be_a_positive_number_of_seconds(monkeypatch, timeout):
    monkeypatch.setenv(backends.TIMEOUT_VARIABLE, timeout)
    with pytest.raises(ValueError, match=backends.TIMEOUT_VARIABLE):
        backends.OllamaBackend("m", "127.0.0.1:1")
