"""A real HTTP server for tests that answers in Ollama's and OpenAI's wire formats with canned text.

It listens on 127.0.0.1 (a free port), serves `/api/generate`, `/api/tags` (Ollama) and
`/v1/chat/completions` (OpenAI) with the JSON fields those servers send, and records every request
body so that tests can check what the backends sent. The answers are LLM-shaped texts given by the
test, served in order (the last one repeats).

`ScriptedHttpServer` is the hostile counterpart: it answers every request with raw bytes written on
a schedule (a bad status line, a truncated or dribbled body), so that tests reach the HTTP client
through a real socket.
"""

from __future__ import annotations

import datetime
import http.server
import json
import socket
import socketserver
import threading
import time
from typing import Any


def unused_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class CannedLlmServer:
    """An Ollama/OpenAI-compatible server whose model answers with the given texts."""

    def __init__(self, answers: list[str], delay_s: float = 0.0, status: int = 200) -> None:
        self.answers = list(answers)
        self.delay_s = delay_s
        self.status = status
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._served = 0
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "CannedLlmServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next_answer(self, path: str, body: dict[str, Any]) -> str:
        with self._lock:
            self.requests.append({"path": path, "body": body})
            answer = self.answers[min(self._served, len(self.answers) - 1)]
            self._served += 1
        return answer

    def _handler_class(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to answer

            def do_GET(self) -> None:
                if self.path == "/api/tags":
                    self._send(200, {"models": [{"name": "canned:latest", "model": "canned:latest"}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path not in ("/api/generate", "/v1/chat/completions"):
                    self._send(404, {"error": f"unknown path {self.path}"})
                    return
                answer = server._next_answer(self.path, body)
                if server.delay_s:
                    time.sleep(server.delay_s)
                if server.status != 200:
                    self._send(server.status, {"error": {"message": "model overloaded"}})
                elif self.path == "/api/generate":
                    self._send(200, _ollama_generate(body, answer))
                else:
                    self._send(200, _openai_chat(body, answer))

        return Handler


def http_response(body: bytes, status: str = "200 OK", headers: tuple[str, ...] = ()) -> bytes:
    """The raw bytes of an HTTP/1.1 response with `body`, its Content-Length and any extra header lines."""
    head = [f"HTTP/1.1 {status}", "Content-Type: application/json", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def dribbled(data: bytes, pause_s: float) -> list[tuple[bytes, float]]:
    """Steps of a ScriptedHttpServer that send `data` one byte at a time, `pause_s` apart."""
    return [(data[index:index + 1], pause_s) for index in range(len(data))]


class ScriptedHttpServer:
    """A server on 127.0.0.1 that answers every request with scripted raw bytes, then closes.

    `steps` is a list of (bytes, pause_s): each piece is written, then the server waits pause_s. The
    head of every request (request line and headers, as text) is kept in `requests`.
    """

    def __init__(self, steps: list[tuple[bytes, float]]) -> None:
        self.steps = list(steps)
        self.requests: list[str] = []
        self._stop = threading.Event()
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "ScriptedHttpServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _handler_class(self) -> type[socketserver.StreamRequestHandler]:
        server = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                head = _read_request(self.rfile)
                server.requests.append(head)
                try:
                    for data, pause_s in list(server.steps):
                        self.wfile.write(data)
                        self.wfile.flush()
                        if pause_s and server._stop.wait(pause_s):
                            return
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up: its deadline passed

        return Handler


def _read_request(stream: Any) -> str:
    """Reads one request (its head and a Content-Length body) and returns the head as text."""
    lines = []
    while (line := stream.readline(65536)) not in (b"", b"\r\n", b"\n"):
        lines.append(line.decode("latin-1").rstrip("\r\n"))
    length = next((int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")), 0)
    stream.read(length)
    return "\n".join(lines)


def _words(text: str) -> int:
    return len(text.split())


def _ollama_generate(body: dict[str, Any], answer: str) -> dict[str, Any]:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    return {
        "model": body.get("model"),
        "created_at": now,
        "response": answer,
        "done": True,
        "done_reason": "stop",
        "context": [1, 2, 3],
        "total_duration": 5_000_000,
        "load_duration": 1_000_000,
        "prompt_eval_count": _words(body.get("system", "")) + _words(body.get("prompt", "")),
        "prompt_eval_duration": 2_000_000,
        "eval_count": _words(answer),
        "eval_duration": 2_000_000,
    }


def _openai_chat(body: dict[str, Any], answer: str) -> dict[str, Any]:
    prompt_tokens = sum(_words(message.get("content", "")) for message in body.get("messages", []))
    return {
        "id": "chatcmpl-canned",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": _words(answer),
            "total_tokens": prompt_tokens + _words(answer),
        },
    }
