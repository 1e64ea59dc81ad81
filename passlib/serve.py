"""`python -m passlib.cli serve`: one compiled bundle over Ollama's and OpenAI's HTTP APIs.

    python -m passlib.cli serve --model BUNDLE_DIR [--host 127.0.0.1] [--port 11434] [--name NAME]

The options, and the start: the bundle is loaded, the socket bound on the resolved address, and the
ASGI app (passlib.serve_app) served by uvicorn with the h11 protocol and a request-read deadline
(passlib.serve_connection). The model runs on one thread (passlib.generation_scheduler).

The server has no authentication: it listens only on loopback addresses unless `--allow-remote` is
given, and refuses requests with a foreign Host or web page Origin (passlib.serve_guard).
"""

from __future__ import annotations

import argparse
import functools
import ipaddress
import logging
import os
import pathlib
import socket
import sys
from typing import Any

import uvicorn

from artifacts import kv_cache
from passlib import model_service, serve_app
from passlib.generation_scheduler import GenerationScheduler
from passlib.serve_app import SERVER_VERSION
from passlib.serve_connection import DeadlineH11Protocol
from passlib.serve_guard import ORIGINS_VARIABLE, split_patterns

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11434
DEFAULT_CACHE_PAGES = 256
# The most bytes of a request's line and headers (h11 answers 400 beyond them).
MAX_HEAD_BYTES = 32 << 10
# Seconds running answers get to finish when the server is stopped.
GRACEFUL_SHUTDOWN_S = 5
LISTEN_BACKLOG = 128
DESCRIPTION = "Serve a compiled model bundle over Ollama's and OpenAI's HTTP APIs."



def resolve_bind_address(host: str, port: int, allow_remote: bool) -> tuple[socket.AddressFamily, tuple[Any, ...]]:
    """The address to listen on; ValueError for a non-loopback one unless `allow_remote`."""
    try:
        candidates = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ValueError(f"cannot resolve --host {host!r}: {error.strerror}") from None
    family, _, _, _, address = candidates[0]
    if not allow_remote:
        remote = [entry[4][0] for entry in candidates
                  if not ipaddress.ip_address(entry[4][0].split("%", 1)[0]).is_loopback]
        if remote:
            raise ValueError(
                f"refusing to listen on {host} ({remote[0]} is not a loopback address): the server has no "
                "authentication. Use --host 127.0.0.1, or pass --allow-remote to expose the model on purpose")
    return family, address


def _count(minimum: int) -> Any:
    """An argparse type: an integer of at least `minimum`."""

    def count(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    return count


def _seconds(text: str) -> float:
    """An argparse type: a positive number of seconds."""
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `python -m passlib.cli serve`."""
    parser.add_argument("--model", type=pathlib.Path, required=True, help="bundle directory (llm_artifacts)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"port (default: {DEFAULT_PORT}, Ollama's; 0 picks a free one)")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow a non-loopback --host (the server has no authentication)")
    parser.add_argument("--name", help="model name clients use (default: the bundle's name)")
    parser.add_argument("--default-num-predict", type=int, default=1024,
                        help="most new tokens when a request sets no limit; negative: until the "
                             "context is full (default: 1024)")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    scheduling = parser.add_argument_group("scheduling")
    scheduling.add_argument("--queue-size", type=_count(1), default=64,
                            help="requests that may wait for the model; beyond them 503 (default: 64)")
    scheduling.add_argument("--max-sequences", type=_count(1), default=8,
                            help="requests decoding at once, one step each in turn (default: 8)")
    scheduling.add_argument("--cache-pages", type=_count(kv_cache.MIN_PAGES_PER_SEQUENCE), default=DEFAULT_CACHE_PAGES,
                            help="KV-cache pages on the device; a request holds the pages of its prompt and "
                                 "token limit while it runs, so this bounds the requests running at once "
                                 f"(default: {DEFAULT_CACHE_PAGES}; SmolLM2-135M: 0.74 MB a page)")
    scheduling.add_argument("--request-timeout", type=_seconds, default=600.0,
                            help="seconds from a request's arrival to its last token; an answer still running "
                                 "then ends (finish reason length), one still waiting gets 503 (default: 600)")
    connections = parser.add_argument_group("connections")
    connections.add_argument("--read-timeout", type=_seconds, default=30.0,
                             help="seconds a client has to send a whole request (headers and body) "
                                  "(default: 30)")
    connections.add_argument("--keep-alive-timeout", type=_seconds, default=5.0,
                             help="seconds an idle keep-alive connection stays open (default: 5)")
    connections.add_argument("--limit-concurrency", type=_count(1), default=256,
                             help="connections and requests in progress at once; beyond them 503 (default: 256)")
    connections.add_argument("--max-request-bytes", type=_count(1), default=serve_app.DEFAULT_MAX_REQUEST_BYTES,
                             help="largest request body; beyond it 413 (default: 16 MiB)")
    connections.add_argument("--allowed-hosts", action="append", default=[], metavar="PATTERNS",
                             help="comma-separated Host names (`*` wildcard) allowed besides loopback names "
                                  "and --host")
    connections.add_argument("--allowed-origins", action="append", default=[], metavar="PATTERNS",
                             help="comma-separated web page origins (`*` wildcard) allowed besides loopback ones; "
                                  f"also from ${ORIGINS_VARIABLE}")


def _allowed_hosts(arguments: argparse.Namespace) -> list[str]:
    """--allowed-hosts, and --host itself unless it is a wildcard address."""
    hosts = split_patterns(arguments.allowed_hosts)
    try:
        wildcard = ipaddress.ip_address(arguments.host).is_unspecified
    except ValueError:
        wildcard = False
    return hosts if wildcard else hosts + [arguments.host]


def _listening_socket(family: socket.AddressFamily, address: tuple[Any, ...]) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if sock.family == socket.AF_INET6:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def run(arguments: argparse.Namespace) -> int:
    """Runs `serve` until interrupted; returns the exit status (2 when it cannot start)."""
    logging.basicConfig(level=logging.WARNING if arguments.quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        family, address = resolve_bind_address(arguments.host, arguments.port, arguments.allow_remote)
        service = model_service.ModelService.load(arguments.model, arguments.name, arguments.default_num_predict,
                                                  arguments.cache_pages)
    except (ValueError, model_service.ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        sock = _listening_socket(family, address)
    except OSError as error:
        print(f"error: cannot listen on {arguments.host}:{arguments.port}: {error.strerror}", file=sys.stderr)
        return 2
    scheduler = GenerationScheduler(service, arguments.queue_size, arguments.max_sequences, arguments.request_timeout)
    app = serve_app.build_app(
        service, scheduler, arguments.max_request_bytes, _allowed_hosts(arguments),
        split_patterns([os.environ.get(ORIGINS_VARIABLE), *arguments.allowed_origins]))
    config = uvicorn.Config(
        app,
        http=functools.partial(DeadlineH11Protocol, read_timeout_s=arguments.read_timeout),
        ws="none",
        lifespan="off",
        log_config=None,
        access_log=not arguments.quiet,
        timeout_keep_alive=arguments.keep_alive_timeout,
        limit_concurrency=arguments.limit_concurrency,
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
        headers=[("server", f"passlib-serve/{SERVER_VERSION}")],
    )
    print(f"passlib serve: model {service.name!r} (bundle {service.bundle_dir}) listening on {_url(sock)}",
          flush=True)
    scheduler.start()
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        scheduler.close()
        sock.close()
    return 0
