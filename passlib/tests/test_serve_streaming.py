"""passlib's server streams as it decodes and serves many clients at once.

The official `ollama` and `openai` clients stream chat, generate and legacy completions; streamed
pieces arrive spread over the decode time, not all at its end. A bounded load test sends 32 clients
at once (mixed prompt lengths, greedy): each gets the tokens the same request gets alone, none gets
an error; then half of 32 streaming clients hang up mid-answer, and the server's free KV-cache pages
return to where they started (GET /api/ps). Chats that share a long system prompt prefill it once: the
later ones take its KV-cache pages from the prefix cache.
"""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import socket
import time

import pytest

from artifacts import bundle as bundle_format
from passlib.tests import serve_process
from passlib.tests.serve_process import bundle_dir, model_name  # noqa: F401 (fixtures)

CLIENTS = 32
STREAMED_TOKENS = 24
# A prompt the model answers at length: streaming has tokens to spread.
LONG_ANSWER = "Write a long story about a lighthouse keeper and the sea."
# Prompts of mixed lengths (a few tokens to about two hundred).
PROMPTS = [f"Summarize in one line: {'the quick brown fox jumps over the lazy dog ' * repeat}" for repeat in
           (0, 1, 3, 6, 10, 15, 20)] + ["Hi"]


@pytest.fixture(scope="module")
def server(bundle_dir, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve_streaming") / "stderr.log"
    with serve_process.running_server(bundle_dir, log, "--quiet", "--default-num-predict", "8",
                                      "--max-sequences", str(CLIENTS)) as url:
        # the first generation of a process pays one-time costs (first dispatches, lazy imports)
        status, _, _ = serve_process.json_request(url, "POST", "/api/generate", {
            "model": bundle_format.read_manifest(bundle_dir).bundle_name, "prompt": "Hi", "stream": False})
        assert status == 200
        yield url, log


@pytest.fixture(scope="module")
def url(server):
    return server[0]


def test_ollama_client_streams_each_piece_as_it_is_decoded(url, model_name):
    ollama = pytest.importorskip("ollama", reason="the official ollama client is not installed")
    client = ollama.Client(host=url, timeout=300)
    for label, call in (
        ("generate", lambda: client.generate(model=model_name, prompt=LONG_ANSWER, stream=True,
                                             options={"num_predict": STREAMED_TOKENS})),
        ("chat", lambda: client.chat(model=model_name, messages=[{"role": "user", "content": LONG_ANSWER}],
                                     stream=True, options={"num_predict": STREAMED_TOKENS})),
    ):
        started = time.monotonic()
        arrivals = [(time.monotonic() - started, part) for part in call()]
        final = arrivals[-1][1]
        pieces = [part for _, part in arrivals[:-1]]
        assert final.done and final.eval_count == STREAMED_TOKENS, "the model ended early: pick a longer prompt"
        assert len(pieces) >= STREAMED_TOKENS // 2
        first_s, last_s = arrivals[0][0], arrivals[-2][0]
        decode_s = final.eval_duration / 1e9
        print(f"\n{label}: first piece at "
              f"{first_s:.3f} s, last at {last_s:.3f} s, server decode {decode_s:.3f} s "
              f"(prefill {final.prompt_eval_duration / 1e9:.3f} s)")
        # the pieces arrive spread over the decode, not together at its end
        assert last_s - first_s >= 0.5 * decode_s and last_s - first_s > 0.02


def test_openai_client_streams_chat_and_legacy_completions(url, model_name):
    openai = pytest.importorskip("openai", reason="the official openai client is not installed")
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0, timeout=300)
    messages = [{"role": "user", "content": LONG_ANSWER}]
    whole = client.chat.completions.create(model=model_name, messages=messages, max_tokens=STREAMED_TOKENS)
    chunks = list(client.chat.completions.create(model=model_name, messages=messages, max_tokens=STREAMED_TOKENS,
                                                 stream=True, stream_options={"include_usage": True}))
    assert "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices) == \
        whole.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens == STREAMED_TOKENS
    assert whole.choices[0].finish_reason == "length"

    prompt = "The lighthouse keeper opened the door and"
    completion = client.completions.create(model=model_name, prompt=prompt, max_tokens=12)
    (choice,) = completion.choices
    assert completion.object == "text_completion" and choice.text and choice.finish_reason in ("stop", "length")
    assert completion.usage.completion_tokens <= 12
    started = time.monotonic()
    arrivals = [(time.monotonic() - started, chunk) for chunk in
                client.completions.create(model=model_name, prompt=prompt, max_tokens=12, stream=True)]
    assert "".join(chunk.choices[0].text for _, chunk in arrivals) == choice.text
    assert arrivals[-1][1].choices[0].finish_reason == choice.finish_reason
    assert arrivals[0][0] < arrivals[-1][0]
    stopped = client.completions.create(model=model_name, prompt=prompt, max_tokens=12, stop=[choice.text[3:6]])
    assert stopped.choices[0].text == choice.text[: choice.text.find(choice.text[3:6])]


def _generate(url: str, payload: dict, hang_up_after_first_piece: bool = False) -> dict:
    """/api/generate streamed with http.client: the status and the lines read (all, or the first)."""
    connection = http.client.HTTPConnection(*serve_process.address(url), timeout=300)
    try:
        connection.request("POST", "/api/generate", body=json.dumps(payload),
                           headers={"Content-Type": "application/json"})
        sock = connection.sock
        response = connection.getresponse()
        if response.status != 200:
            return {"status": response.status, "lines": [], "body": response.read()}
        lines = []
        while line := response.readline():
            lines.append(json.loads(line))
            if hang_up_after_first_piece:
                sock.shutdown(socket.SHUT_RDWR)
                break
        return {"status": response.status, "lines": lines}
    finally:
        connection.close()


def _payload(model_name: str, index: int, new_tokens: int) -> dict:
    return {"model": model_name, "prompt": PROMPTS[index % len(PROMPTS)], "options": {"num_predict": new_tokens}}


def test_32_clients_at_once_get_what_each_gets_alone(url, model_name):
    start = serve_process.scheduler_status(url)
    alone = [_generate(url, dict(_payload(model_name, index, 8), stream=False)) for index in range(len(PROMPTS))]
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        started = time.monotonic()
        results = list(pool.map(lambda index: _generate(url, _payload(model_name, index, 8)), range(CLIENTS)))
        took = time.monotonic() - started
    print(f"\n{CLIENTS} clients at once: {took:.2f} s in all")
    assert [result["status"] for result in results] == [200] * CLIENTS
    for index, result in enumerate(results):
        final = result["lines"][-1]
        expected = alone[index % len(PROMPTS)]["lines"][0]
        assert final["done"] and final["context"] == expected["context"], index
        assert "".join(line["response"] for line in result["lines"]) == expected["response"]
    end = serve_process.wait_for_status(url, {"running_requests": 0, "free_cache_pages": start["free_cache_pages"]}, 30)
    assert end["free_cache_pages"] == start["free_cache_pages"] == start["cache_pages"]


def test_clients_that_hang_up_mid_stream_give_their_pages_back(url, model_name, server):
    start = serve_process.scheduler_status(url)

    def client(index: int) -> dict:
        if index % 2:
            return _generate(url, _payload(model_name, index, 12))
        return _generate(url, _payload(model_name, index, 1500), hang_up_after_first_piece=True)

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        results = list(pool.map(client, range(CLIENTS)))
    hung_up = time.monotonic()
    assert all(result["status"] == 200 and result["lines"] for result in results)
    assert all(result["lines"][-1]["done"] for result in results[1::2])
    end = serve_process.wait_for_status(url, {"running_requests": 0, "queued_requests": 0,
                                              "free_cache_pages": start["free_cache_pages"]}, 30)
    print(f"\nfree KV-cache pages {start['free_cache_pages']} before, {end['free_cache_pages']} "
          f"{time.monotonic() - hung_up:.2f} s after the last client finished or hung up")
    assert end == start
    log = server[1].read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


def test_chats_with_one_system_prompt_reuse_its_cached_pages(url, model_name):
    system = "You review MLIR for a compiler team. Answer briefly and name the pass you would run. " * 12
    questions = ["What does canonicalize do?", "When is cse useless?", "What does inlining need?"]

    def chat(question: str) -> dict:
        status, _, answer = serve_process.json_request(url, "POST", "/api/chat", {
            "model": model_name, "stream": False, "options": {"num_predict": 4},
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": question}]})
        assert status == 200, answer
        _, _, models = serve_process.json_request(url, "GET", "/api/ps")
        return {"answer": answer, "reused": models["models"][0]["reused_prefix_pages"]}

    before = serve_process.json_request(url, "GET", "/api/ps")[2]["models"][0]["reused_prefix_pages"]
    results = [chat(question) for question in questions]
    reused = [result["reused"] - previous for result, previous in
              zip(results, [before] + [result["reused"] for result in results])]
    prefill_s = [result["answer"]["prompt_eval_duration"] / 1e9 for result in results]
    print(f"\npages reused {reused}, prefill {', '.join(f'{s:.3f}' for s in prefill_s)} s "
          f"(prompts of {results[0]['answer']['prompt_eval_count']} tokens)")
    # about 240 tokens of system prompt: 7 full pages of 32 tokens each time after the first
    assert reused[0] == 0 and all(count >= 6 for count in reused[1:])
    # the same question again, prefilled from cached pages, gets the same answer
    assert chat(questions[0])["answer"]["message"] == results[0]["answer"]["message"]
