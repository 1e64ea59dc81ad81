"""The server's pieces without a server or a model: request rules, answers, stop-string hold-back,
the Host/Origin guard, and the app's error answers (Starlette's test client, a fake scheduler)."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.testclient import TestClient

from passlib import model_service, serve_answers, serve_protocol, serve_text
from passlib.serve_app import GENERIC_FAILURE, build_app
from passlib.serve_guard import HostOriginGuard

VOCABULARY = 100


class Served:
    """The model as serve_protocol sees it."""

    name = "tiny"
    tagged_name = "tiny:latest"
    vocabulary_size = VOCABULARY

    def serves(self, model: str) -> bool:
        return model in (self.name, self.tagged_name)


SERVED = Served()


def rejected(reader, body, status=400) -> str:
    with pytest.raises(serve_protocol.ProtocolError) as error:
        reader(body, SERVED)
    assert error.value.status == status, error.value.message
    assert "\n" not in error.value.message
    return error.value.message


# --- JSON ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, reason", [
    (b'{"temperature": NaN}', "NaN is not a JSON number"),
    (b'{"temperature": Infinity}', "Infinity is not a JSON number"),
    (b'{"temperature": -Infinity}', "-Infinity is not a JSON number"),
    (b'{"temperature": 1e999}', "out of range"),
    (b'{"seed": 123456789012345678901}', "21 digits"),
    (b'{"prompt": "\\ud800"}', "lone UTF-16 surrogate"),
    (b'{"messages": [{"content": "\\udfff x"}]}', "lone UTF-16 surrogate"),
    (b'{"\\ud800": 1}', "lone UTF-16 surrogate"),
    (b"[" * 65 + b"]" * 65, "nested deeper than 64"),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested deeper than 64"),
    (b'{"prompt": "\xff"}', "can't decode"),
    (b"[1, 2]", "must be a JSON object"),
    (b"{not json", "not valid JSON"),
])
def test_json_bodies_outside_the_rules_are_400(raw, reason):
    with pytest.raises(serve_protocol.ProtocolError) as error:
        serve_protocol.parse_json_object(raw)
    assert error.value.status == 400 and reason in error.value.message


def test_json_bodies_inside_the_rules_are_read():
    nested = b"[" * 62 + b"{}" + b"]" * 62  # 64 levels with the outer object
    assert serve_protocol.parse_json_object(b"{\"a\": " + nested + b"}")["a"]
    assert serve_protocol.parse_json_object(b'{"seed": 18446744073709551615}') == {"seed": 2**64 - 1}
    assert serve_protocol.parse_json_object('{"text": "\\ud83d\\ude80 ✓"}'.encode()) == {"text": "🚀 ✓"}
    assert serve_protocol.parse_json_object(b"") == {}


# --- request fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize("options, reason", [
    ({"temperature": -0.5}, "'temperature' must be 0 (greedy) or positive"),
    ({"temperature": "hot"}, "'temperature' must be a number"),
    ({"num_predict": -2}, "'num_predict' must be -1"),
    ({"num_predict": 2.5}, "'num_predict' must be an integer"),
    ({"seed": -1}, "'seed' must be between 0 and 2**64-1"),
    ({"seed": 2**64}, "'seed' must be between 0 and 2**64-1"),
    ({"stop": [1]}, "options.stop must be a string or a list of strings"),
    ({"stop": ["x"] * 17}, "at most 16 strings"),
])
def test_ollama_options_outside_the_rules_are_400(options, reason):
    assert reason in rejected(serve_protocol.ollama_generate, {"model": "tiny", "prompt": "hi", "options": options})


@pytest.mark.parametrize("body, status, reason", [
    ({"model": "tiny", "context": [VOCABULARY]}, 400,
     f"token id {VOCABULARY}, outside the vocabulary [0, {VOCABULARY})"),
    ({"model": "tiny", "context": [-1]}, 400, "outside the vocabulary"),
    ({"model": "tiny", "context": [True]}, 400, "must be a list of token ids"),
    ({"model": "tiny", "prompt": "hi", "images": ["aGk="]}, 400, "does not support images"),
    ({"model": "tiny", "prompt": "hi", "think": True}, 400, "does not support thinking"),
    ({"prompt": "hi"}, 400, "'model' is required"),
    ({"model": "other", "prompt": "hi"}, 404, "not found"),
])
def test_ollama_generate_requests_outside_the_rules(body, status, reason):
    assert reason in rejected(serve_protocol.ollama_generate, body, status)


def test_ollama_generate_reads_prompt_context_and_options():
    answer = serve_protocol.ollama_generate({"model": "tiny:latest", "prompt": "hi", "system": "be brief",
                                             "context": [1, 2], "options": {"num_predict": -1, "seed": 3,
                                                                            "temperature": 0.5, "stop": "x"}}, SERVED)
    generation = answer.generation
    assert answer.stream and generation.messages[0] == {"role": "system", "content": "be brief"}
    assert list(generation.context) == [1, 2] and generation.max_new_tokens == -1
    assert (generation.seed, generation.temperature, tuple(generation.stop)) == (3, 0.5, ("x",))
    raw = serve_protocol.ollama_generate({"model": "tiny", "prompt": "p", "raw": True, "stream": False}, SERVED)
    assert raw.generation.text == "p" and not raw.generation.messages and not raw.stream
    assert serve_protocol.ollama_generate({"model": "tiny"}, SERVED)["done_reason"] == "load"


@pytest.mark.parametrize("body, reason", [
    ({"max_tokens": 0}, "'max_tokens' must be at least 1"),
    ({"n": 2}, "'n' must be 1"),
    ({"seed": -5}, "'seed' must be between"),
    ({"temperature": -1}, "'temperature' must be 0"),
    ({"echo": True}, "'echo' is not supported"),
    ({"logprobs": 2}, "'logprobs' is not supported"),
    ({"prompt": ""}, "'prompt' must be a non-empty string"),
    ({"prompt": ["a", "b"]}, "'prompt' must be"),
    ({"prompt": [[1, 2]]}, "'prompt' must be"),
    ({"prompt": [1, VOCABULARY]}, "outside the vocabulary"),
])
def test_openai_completions_outside_the_rules_are_400(body, reason):
    assert reason in rejected(serve_protocol.openai_completion, {"model": "tiny", "prompt": "hi", **body})


def test_openai_completions_take_a_string_one_string_or_token_ids():
    for prompt, text, context in [("go", "go", []), (["go"], "go", []), ([5, 6], "", [5, 6])]:
        answer = serve_protocol.openai_completion({"model": "tiny", "prompt": prompt, "max_tokens": 4,
                                                   "stream": True, "stream_options": {"include_usage": True}},
                                                  SERVED)
        assert answer.generation.text == text and list(answer.generation.context) == context
        assert answer.generation.max_new_tokens == 4 and answer.stream and answer.answer.include_usage


def test_openai_chat_reads_roles_parts_and_length():
    answer = serve_protocol.openai_chat({"model": "tiny", "max_completion_tokens": 3, "max_tokens": 9, "messages": [
        {"role": "developer", "content": "sys"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        SERVED)
    assert answer.generation.messages == [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]
    assert answer.generation.max_new_tokens == 3 and not answer.stream
    assert "at least one message" in rejected(serve_protocol.openai_chat, {"model": "tiny", "messages": []})


# --- answers ------------------------------------------------------------------------------------------

GENERATION = model_service.Generation(text="Hi!", prompt_ids=[1, 2, 3], output_ids=[7, 8], finish_reason="stop",
                                      prefill_s=0.5, decode_s=0.25)


def test_ollama_answers_whole_and_streamed():
    answer = serve_answers.OllamaAnswer("tiny", chat=False)
    whole = answer.whole(GENERATION, 1.0)
    assert whole["response"] == "Hi!" and whole["done"] and whole["context"] == [1, 2, 3, 7, 8]
    assert (whole["prompt_eval_count"], whole["eval_count"], whole["total_duration"]) == (3, 2, 10**9)
    assert whole["prompt_eval_duration"] == 5 * 10**8 and whole["eval_duration"] == 25 * 10**7
    line = json.loads(answer.stream_piece("Hi"))
    assert line["response"] == "Hi" and line["done"] is False
    (last,) = answer.stream_end(GENERATION, 1.0)
    assert json.loads(last)["response"] == "" and json.loads(last)["done_reason"] == "stop"
    chat = serve_answers.OllamaAnswer("tiny", chat=True).whole(GENERATION, 1.0)
    assert chat["message"] == {"role": "assistant", "content": "Hi!"} and "context" not in chat


def _events(lines):
    return [line[len(b"data: "):-2] for line in lines]


def test_openai_completion_answers_whole_and_streamed():
    answer = serve_answers.OpenAICompletionAnswer("tiny", include_usage=True)
    whole = answer.whole(GENERATION, 1.0)
    assert whole["object"] == "text_completion" and whole["id"].startswith("cmpl-")
    assert whole["choices"] == [{"index": 0, "text": "Hi!", "logprobs": None, "finish_reason": "stop"}]
    assert whole["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert answer.stream_start() == []
    piece = json.loads(_events([answer.stream_piece("Hi")])[0])
    assert piece["choices"][0]["text"] == "Hi" and piece["choices"][0]["finish_reason"] is None
    end = _events(answer.stream_end(GENERATION, 1.0))
    assert json.loads(end[0])["choices"][0]["finish_reason"] == "stop"
    assert json.loads(end[1])["usage"]["total_tokens"] == 5 and end[2] == b"[DONE]"


def test_openai_chat_stream_starts_with_the_role_and_ends_with_an_empty_delta():
    answer = serve_answers.OpenAIChatAnswer("tiny", include_usage=False)
    (start,) = _events(answer.stream_start())
    assert json.loads(start)["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    end = _events(answer.stream_end(GENERATION, 1.0))
    assert json.loads(end[0])["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert end[1:] == [b"[DONE]"]


# --- stop strings while streaming ---------------------------------------------------------------------


def letters(ids):
    return "".join(chr(ord("a") + token) for token in ids)


def stream(text: str, stop):
    answer = serve_text.AnswerText(letters, stop)
    pieces = [answer.add(ord(character) - ord("a")) for character in text]
    return pieces, answer.finish(), answer


def test_text_that_could_start_a_stop_string_is_held_back():
    pieces, rest, answer = stream("abcxyzdef", ["xyz!"])
    assert pieces == ["a", "b", "c", "", "", "", "xyzd", "e", "f"] and rest == "" and not answer.stopped
    pieces, rest, answer = stream("abcxyzdef", ["yzd", "xy"])
    assert "".join(pieces) + rest == "abc" and answer.stopped and answer.text == "abc"
    assert all("x" not in piece for piece in pieces)
    pieces, rest, answer = stream("abcx", ["xy"])
    assert pieces == ["a", "b", "c", ""] and rest == "x" and answer.text == "abcx"


def test_stop_prefix_length():
    assert serve_text.stop_prefix_length("hello wor", ["world", "or"]) == 3
    assert serve_text.stop_prefix_length("hello", ["world"]) == 0
    assert serve_text.stop_prefix_length("w", ["w"]) == 0  # a whole stop string is found, not held


# --- Host and Origin ----------------------------------------------------------------------------------


def test_hosts_and_origins():
    guard = HostOriginGuard(None, ["models.internal", "*.lan"], ["https://*.example.com"])
    for host in ("127.0.0.1:11434", "localhost", "LOCALHOST:1", "[::1]:8080", "127.9.9.9", "models.internal:80",
                 "box.lan", None):
        assert guard.host_allowed(host), host
    for host in ("evil.com", "127.0.0.1.evil.com", "localhost.evil.com:80", "[::2]", "a b", ""):
        assert not guard.host_allowed(host), host
    for origin in ("http://localhost:3000", "https://127.0.0.1", "http://[::1]:1", "https://app.example.com", None):
        assert guard.origin_allowed(origin), origin
    for origin in ("null", "http://evil.com", "http://localhost.evil.com", "file://", "https://example.com.evil",
                   "http://127.0.0.1/x"):
        assert not guard.origin_allowed(origin), origin
    assert not HostOriginGuard(None).host_allowed("models.internal")


# --- the app's error answers --------------------------------------------------------------------------


class BrokenScheduler:
    """A scheduler whose every request fails unexpectedly."""

    def submit(self, request):
        raise RuntimeError("secret internal detail")

    def status(self):
        return {}


def test_an_unexpected_failure_is_a_generic_500_and_the_traceback_goes_to_the_log(caplog):
    app = build_app(Served(), BrokenScheduler())
    with TestClient(app, base_url="http://127.0.0.1") as client, caplog.at_level(logging.ERROR):
        answer = client.post("/api/generate", json={"model": "tiny", "prompt": "hi"})
        openai = client.post("/v1/completions", json={"model": "tiny", "prompt": "hi"})
        foreign = client.get("/api/version", headers={"Host": "evil.com"})
    assert answer.status_code == 500 and answer.json() == {"error": GENERIC_FAILURE}
    assert openai.status_code == 500 and openai.json()["error"]["type"] == "server_error"
    assert "secret" not in answer.text + openai.text
    assert "secret internal detail" in caplog.text and "Traceback" in caplog.text
    assert foreign.status_code == 403 and "Host 'evil.com'" in foreign.json()["error"]
