"""passlib's model server started for real in tests, and raw HTTP to talk to it.

`running_server` starts `python -m passlib.cli serve` on 127.0.0.1 with a free port and yields its
URL; the server's log (stderr) goes to a file the test can read. Tests that need the model take the
bundle from PASSLIB_TEST_BUNDLE (`bundle_dir_or_skip`). `raw_exchange` sends bytes as they are
(malformed requests, HTTP/1.0) and reads the answer until the server closes the connection.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pathlib
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest

BUNDLE_VARIABLE = "PASSLIB_TEST_BUNDLE"
START_TIMEOUT_S = 300


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a server child: this interpreter's packages, and `extra`."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path), **(extra or {}))


def serve_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "passlib.cli", "serve", *arguments]


def bundle_dir_or_skip() -> pathlib.Path:
    value = os.environ.get(BUNDLE_VARIABLE)
    if not value:
        pytest.skip(f"{BUNDLE_VARIABLE} is not set: no compiled model bundle to serve")
    return pathlib.Path(value)


@pytest.fixture(scope="module")
def bundle_dir() -> pathlib.Path:
    """The bundle to serve (a module fixture; tests import it from here)."""
    return bundle_dir_or_skip()


@pytest.fixture(scope="module")
def model_name(bundle_dir) -> str:
    """The name the server serves the bundle under."""
    from artifacts import bundle as bundle_format

    return bundle_format.read_manifest(bundle_dir).bundle_name


@contextlib.contextmanager
def running_server(bundle_dir: pathlib.Path, log: pathlib.Path, *arguments: str,
                   env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A server of `bundle_dir` with the given options, until the block ends; yields its URL."""
    with open(log, "w") as stderr:
        process = subprocess.Popen(serve_command("--model", str(bundle_dir), "--port", "0", *arguments),
                                   stdout=subprocess.PIPE, stderr=stderr, text=True, env=environment(env))
    try:
        selector = selectors.DefaultSelector()
        selector.register(process.stdout, selectors.EVENT_READ)
        ready = selector.select(timeout=START_TIMEOUT_S)
        line = process.stdout.readline() if ready else ""
        assert "listening on http://127.0.0.1:" in line, f"serve did not start: {line!r} {log.read_text()}"
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        process.terminate()
        process.wait(timeout=30)


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def raw_exchange(url: str, data: bytes, timeout_s: float = 60.0) -> tuple[int, dict[str, str], bytes]:
    """Sends `data` on a new connection and reads until the server closes it: status, headers
    (lower-case names), the body bytes as they came (chunked framing included)."""
    with socket.create_connection(address(url), timeout=timeout_s) as connection:
        connection.sendall(data)
        received = bytearray()
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, body


def post_request(path: str, body: bytes, *headers: str, version: str = "HTTP/1.1", length: bool = True) -> bytes:
    """A POST with Host 127.0.0.1, Connection: close, and (with `length`) a Content-Length unless a
    header sets the length or the framing."""
    lines = [f"POST {path} {version}", "Host: 127.0.0.1", "Connection: close", *headers]
    framed = any(header.lower().startswith(("content-length:", "transfer-encoding:")) for header in headers)
    if length and not framed:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def json_request(url: str, method: str, path: str, payload: Any = None,
                 headers: Mapping[str, str] | None = None, timeout_s: float = 300) -> tuple[int, dict[str, str], Any]:
    """One request with http.client: status, headers (lower-case names), the JSON body (or text)."""
    connection = http.client.HTTPConnection(*address(url), timeout=timeout_s)
    try:
        body = None if payload is None else json.dumps(payload).encode()
        connection.request(method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        data = response.read()
        answer_headers = {name.lower(): value for name, value in response.getheaders()}
    finally:
        connection.close()
    try:
        return response.status, answer_headers, json.loads(data)
    except ValueError:
        return response.status, answer_headers, data.decode("utf-8", "replace")


def scheduler_status(url: str) -> dict[str, int]:
    """The scheduler's counts from /api/ps: queued and running requests, KV-cache pages."""
    _, _, answer = json_request(url, "GET", "/api/ps")
    (entry,) = answer["models"]
    return {name: entry[name] for name in ("queued_requests", "running_requests", "cache_pages", "free_cache_pages")}


def wait_for_status(url: str, wanted: Mapping[str, int], timeout_s: float) -> dict[str, int]:
    """Polls /api/ps until the counts in `wanted` are reached; returns the last status seen."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = scheduler_status(url)
        if all(status[name] == value for name, value in wanted.items()) or time.monotonic() > deadline:
            return status
        time.sleep(0.05)
