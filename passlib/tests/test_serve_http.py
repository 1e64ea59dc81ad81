"""passlib's server at the wire: every client mistake is a 4xx with a one-line reason, foreign
hosts and web pages get 403, a full queue 503 with Retry-After, stalled clients are dropped, and
HTTP/1.0 clients get plain bodies. Raw bytes over sockets (serve_process.raw_exchange) so that the
malformed requests reach the server as written; model calls are a few tokens each."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from artifacts import bundle as bundle_format
from passlib.tests import serve_process
from passlib.tests.serve_process import bundle_dir, model_name  # noqa: F401 (fixtures)
from passlib.tests.serve_process import json_request, post_request, raw_exchange, scheduler_status

BODY_LIMIT = 2 << 20
READ_TIMEOUT_S = 2


@pytest.fixture(scope="module")
def server(bundle_dir, tmp_path_factory):
    """One request waits at most, one decodes at a time: the queue test can fill them."""
    log = tmp_path_factory.mktemp("serve_http") / "stderr.log"
    with serve_process.running_server(bundle_dir, log, "--default-num-predict", "3", "--max-request-bytes",
                                      str(BODY_LIMIT), "--read-timeout", str(READ_TIMEOUT_S), "--queue-size", "1",
                                      "--max-sequences", "1") as url:
        yield url, log


@pytest.fixture(scope="module")
def url(server):
    return server[0]


def refused(url: str, path: str, body: bytes, *headers: str, status: int = 400) -> str:
    """Sends a raw POST; checks the status and that the reason is one line; returns the reason."""
    got, answer_headers, raw = raw_exchange(url, post_request(path, body, *headers))
    assert got == status, raw[:300]
    if answer_headers.get("content-type", "").startswith("application/json"):
        error = json.loads(raw)["error"]
        reason = error["message"] if isinstance(error, dict) else error
    else:
        reason = raw.decode()
    assert "\n" not in reason.strip() and "Traceback" not in reason
    return reason


def test_numbers_out_of_range_are_400(url, model_name):
    for options, reason in [("\"temperature\": NaN", "NaN is not a JSON number"),
                            ("\"temperature\": Infinity", "Infinity is not a JSON number"),
                            ("\"temperature\": 1e400", "out of range"),
                            ("\"temperature\": -0.1", "'temperature' must be 0 (greedy) or positive"),
                            ("\"num_predict\": -2", "'num_predict' must be -1"),
                            ("\"seed\": -1", "'seed' must be between 0 and 2**64-1"),
                            ("\"seed\": 18446744073709551616", "'seed' must be between 0 and 2**64-1"),
                            ("\"seed\": 100000000000000000000", "21 digits")]:
        body = f'{{"model": "{model_name}", "prompt": "hi", "options": {{{options}}}}}'.encode()
        assert reason in refused(url, "/api/generate", body), options
    for fields, reason in [('"max_tokens": 0', "'max_tokens' must be at least 1"),
                           ('"temperature": -Infinity', "-Infinity is not a JSON number"),
                           ('"seed": -3', "'seed' must be between")]:
        body = f'{{"model": "{model_name}", "prompt": "hi", {fields}}}'.encode()
        assert reason in refused(url, "/v1/completions", body), fields


def test_token_ids_outside_the_vocabulary_are_400(url, model_name, bundle_dir):
    import tokenizers

    vocabulary = tokenizers.Tokenizer.from_file(str(bundle_dir / "tokenizer.json")).get_vocab_size(True)
    for path, body in [("/api/generate", {"model": model_name, "prompt": "hi", "context": [1, vocabulary]}),
                       ("/api/generate", {"model": model_name, "context": [-1]}),
                       ("/v1/completions", {"model": model_name, "prompt": [1, 2, vocabulary + 5]})]:
        reason = refused(url, path, json.dumps(body).encode())
        assert "outside the vocabulary" in reason and str(vocabulary) in reason


def test_lone_surrogates_and_deep_or_huge_json_are_400(url, model_name):
    surrogate = f'{{"model": "{model_name}", "prompt": "a \\ud800 b"}}'.encode()
    assert "lone UTF-16 surrogate" in refused(url, "/api/generate", surrogate)
    chat = f'{{"model": "{model_name}", "messages": [{{"role": "user", "content": "\\udc00"}}]}}'.encode()
    assert "lone UTF-16 surrogate" in refused(url, "/v1/chat/completions", chat)
    assert "nested deeper than 64" in refused(url, "/api/chat", b'{"a": ' + b"[" * 70 + b"]" * 70 + b"}")
    assert "nested deeper than 64" in refused(url, "/api/chat", b"[" * 200_000 + b"]" * 200_000)
    assert "not valid JSON" in refused(url, "/api/chat", b'{"prompt": "\xc3\x28"}')


def test_content_length_rules(url, model_name):
    body = json.dumps({"model": model_name}).encode()
    for length in ("-1", "abc", "1e3", "+5"):
        refused(url, "/api/generate", body, f"Content-Length: {length}")
    status, _, answer = raw_exchange(url, post_request("/api/generate", b"", length=False))
    assert status == 411 and "Content-Length" in json.loads(answer)["error"]
    with socket.create_connection(serve_process.address(url), timeout=30) as connection:
        started = time.monotonic()
        connection.sendall(post_request("/api/generate", b"", f"Content-Length: {BODY_LIMIT + 1}"))
        answer = b""
        while chunk := connection.recv(65536):  # answered and closed before any of the body is sent
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 413") and b"the limit is" in answer
        assert time.monotonic() - started < READ_TIMEOUT_S
    # one byte over the limit, then nothing more: the server reads all of it, so closing after its 413
    # does not reset the connection (which would drop the answer before the client reads it)
    chunk = b"x" * (64 << 10)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(BODY_LIMIT // len(chunk))) + b"1\r\nx\r\n"
    assert "over the limit" in refused(url, "/api/generate", chunked, "Transfer-Encoding: chunked", status=413)
    small = json.dumps({"model": model_name}).encode()
    status, _, answer = raw_exchange(url, post_request("/api/generate", b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small),
                                                       "Transfer-Encoding: chunked"))
    assert status == 200 and json.loads(answer)["done_reason"] == "load"


def test_text_over_the_tokenizer_limit_is_400(url, model_name, bundle_dir):
    body = json.dumps({"model": model_name, "prompt": "ab " * 400_000, "raw": True}).encode()
    assert len(body) < BODY_LIMIT
    # the compiled tokenizer refuses text over its limit; tokenizer.json's encodes it, far too long
    compiled = (bundle_dir / bundle_format.TOKENIZER_VMFB).exists()
    assert ("MAX_ENCODE_BYTES" if compiled else "shorten the prompt") in refused(url, "/api/generate", body)


def test_foreign_hosts_and_web_pages_get_403(url, model_name):
    for headers in ({"Host": "evil.example"}, {"Host": "127.0.0.1.evil.example:80"},
                    {"Origin": "http://evil.example"}, {"Origin": "null"}):
        for method, path, payload in [("GET", "/api/version", None), ("GET", "/v1/models", None),
                                      ("POST", "/api/generate", {"model": model_name, "prompt": "hi"})]:
            status, _, answer = json_request(url, method, path, payload, headers=headers)
            assert status == 403, (headers, path, answer)
    _, _, answer = json_request(url, "GET", "/v1/models", headers={"Origin": "http://evil.example"})
    assert "--allowed-origins" in answer["error"]["message"]
    for headers in ({"Host": "localhost:11434"}, {"Host": "[::1]"}, {"Origin": "http://localhost:5173"},
                    {"Origin": "https://127.0.0.1"}):
        status, answer_headers, _ = json_request(url, "GET", "/api/version", headers=headers)
        assert status == 200, headers
    assert answer_headers["access-control-allow-origin"] == "https://127.0.0.1"


def test_allow_lists_let_named_hosts_and_origins_in(bundle_dir, tmp_path):
    with serve_process.running_server(bundle_dir, tmp_path / "stderr.log", "--quiet", "--allowed-hosts",
                                      "models.internal,*.lan", "--allowed-origins", "https://app.example.com",
                                      env={"PASSLIB_SERVE_ORIGINS": "https://*.tools.example"}) as url:
        for headers in ({"Host": "models.internal:11434"}, {"Host": "box.lan"},
                        {"Origin": "https://app.example.com"}, {"Origin": "https://x.tools.example"}):
            status, answer_headers, _ = json_request(url, "GET", "/api/version", headers=headers)
            assert status == 200, headers
        assert answer_headers["access-control-allow-origin"] == "https://x.tools.example"
        for headers in ({"Host": "evil.example"}, {"Origin": "https://evil.example"}):
            assert json_request(url, "GET", "/api/version", headers=headers)[0] == 403, headers


def _stream_first_line(url: str, payload: dict) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = http.client.HTTPConnection(*serve_process.address(url), timeout=120)
    connection.request("POST", "/api/generate", body=json.dumps(payload), headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    assert json.loads(response.readline())["done"] is False
    return connection, response


def _close(connection: http.client.HTTPConnection) -> None:
    connection.sock.shutdown(socket.SHUT_RDWR)
    connection.close()


def test_a_full_queue_is_503_with_retry_after_and_a_gone_client_frees_the_model(url, model_name):
    pages = scheduler_status(url)["cache_pages"]
    running, _ = _stream_first_line(url, {"model": model_name, "prompt": "Count to a thousand.",
                                          "options": {"num_predict": 1500}})
    waiting_answer = {}
    waiting = threading.Thread(target=lambda: waiting_answer.update(answer=json_request(
        url, "POST", "/api/generate", {"model": model_name, "prompt": "hi", "stream": False})))
    waiting.start()
    try:
        assert serve_process.wait_for_status(url, {"queued_requests": 1, "running_requests": 1}, 30)[
            "queued_requests"] == 1
        status, headers, answer = json_request(url, "POST", "/api/chat", {
            "model": model_name, "messages": [{"role": "user", "content": "hi"}]})
        assert status == 503 and headers["retry-after"] == "1" and "--queue-size 1" in answer["error"]
        status, headers, answer = json_request(url, "POST", "/v1/completions", {"model": model_name, "prompt": "x"})
        assert status == 503 and headers["retry-after"] == "1" and answer["error"]["code"] == "server_busy"
    finally:
        _close(running)  # the streaming client goes away: its request ends, the waiting one runs
        waiting.join(120)
    status, _, answer = waiting_answer["answer"]
    assert status == 200 and answer["done"]
    final = serve_process.wait_for_status(url, {"running_requests": 0, "free_cache_pages": pages}, 30)
    assert final["free_cache_pages"] == pages and final["running_requests"] == 0


def test_a_client_that_leaves_a_whole_answer_stops_its_generation(url, model_name):
    pages = scheduler_status(url)["cache_pages"]
    payload = json.dumps({"model": model_name, "prompt": "Count to a thousand.", "stream": False,
                          "options": {"num_predict": 1500}}).encode()
    with socket.create_connection(serve_process.address(url), timeout=30) as connection:
        connection.sendall(post_request("/api/generate", payload))
        assert serve_process.wait_for_status(url, {"running_requests": 1}, 30)["running_requests"] == 1
    started = time.monotonic()
    final = serve_process.wait_for_status(url, {"running_requests": 0, "free_cache_pages": pages}, 30)
    assert final["free_cache_pages"] == pages and time.monotonic() - started < 5


def test_a_stalled_client_is_dropped_after_the_read_timeout(url, model_name):
    for partial, answer_prefix in [(b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le", b"HTTP/1.1 408"),
                                   (b"", b"HTTP/1.1 408"),
                                   (post_request("/api/generate", b'{"model": "x"', "Content-Length: 100"), b"")]:
        with socket.create_connection(serve_process.address(url), timeout=30) as connection:
            started = time.monotonic()
            connection.sendall(partial)
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
            waited = time.monotonic() - started
        assert READ_TIMEOUT_S * 0.9 <= waited < READ_TIMEOUT_S + 5, (partial, waited)
        assert answer.startswith(answer_prefix), answer
    # a client that sends its request slowly but in time is answered
    with socket.create_connection(serve_process.address(url), timeout=30) as connection:
        for piece in (b"GET /api/version HTTP/1.1\r\n", b"Host: 127.0.0.1\r\n", b"Connection: close\r\n\r\n"):
            connection.sendall(piece)
            time.sleep(READ_TIMEOUT_S / 4)
        assert connection.recv(65536).startswith(b"HTTP/1.1 200")


def test_http_1_0_clients_get_a_plain_streamed_body(url, model_name):
    payload = json.dumps({"model": model_name, "prompt": "Say hi.", "options": {"num_predict": 4}}).encode()
    status, headers, body = raw_exchange(url, post_request("/api/generate", payload, version="HTTP/1.0"))
    assert status == 200 and "transfer-encoding" not in headers
    assert headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in body.splitlines()]
    assert lines[-1]["done"] is True and all(line["done"] is False for line in lines[:-1])
    status, headers, body = raw_exchange(url, b"GET /api/version HTTP/1.0\r\n\r\n")
    assert status == 200 and headers["content-length"] == str(len(body)) and json.loads(body)["version"]


def test_the_server_logged_no_failure(server):
    _, log = server
    text = log.read_text()
    assert "Traceback" not in text and " 500" not in text, text[-3000:]


def _version_request(connection: socket.socket) -> bytes:
    """Sends GET /api/version on a kept-alive connection; returns the status line."""
    connection.sendall(b"GET /api/version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    length = int(next((line.split(b":", 1)[1] for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), b"0"))
    while len(body) < length:
        body += connection.recv(65536)
    return head.split(b"\r\n", 1)[0]


def test_idle_keep_alive_connections_close_and_connections_over_the_limit_get_503(bundle_dir, tmp_path):
    keep_alive_s = 1.0
    with serve_process.running_server(bundle_dir, tmp_path / "stderr.log", "--quiet", "--keep-alive-timeout",
                                      str(keep_alive_s), "--limit-concurrency", "3") as url:
        # An idle keep-alive connection is closed by the server once --keep-alive-timeout passes.
        with socket.create_connection(serve_process.address(url), timeout=30) as connection:
            assert _version_request(connection) == b"HTTP/1.1 200 OK"
            started = time.monotonic()
            assert connection.recv(65536) == b""
            assert keep_alive_s * 0.9 <= time.monotonic() - started < keep_alive_s + 2
        # --limit-concurrency 3: with one other connection open a request is served; with two
        # others open (three in all) it gets 503.
        with socket.create_connection(serve_process.address(url), timeout=30) as first, \
                socket.create_connection(serve_process.address(url), timeout=30) as probe:
            assert _version_request(probe) == b"HTTP/1.1 200 OK"
            with socket.create_connection(serve_process.address(url), timeout=30) as second:
                time.sleep(0.2)  # the server has accepted `second`
                assert _version_request(probe).startswith(b"HTTP/1.1 503")
