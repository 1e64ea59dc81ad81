"""passlib's model server: one compiled bundle over Ollama's and OpenAI's HTTP APIs.

    python -m passlib.cli serve --model BUNDLE_DIR [--host 127.0.0.1] [--port 11434] [--name NAME]

Ollama (`ollama.Client`, passlib's `ollama` backend):
    POST /api/generate, POST /api/chat  streaming (newline-delimited JSON, the default, as Ollama)
                                        or not ("stream": false); options temperature, seed,
                                        num_predict, stop
    GET /api/tags, GET /api/ps, POST /api/show, GET /api/version, GET / ("Ollama is running")
OpenAI (passlib's `openai` backend, OpenAI's clients with base_url http://HOST:PORT/v1):
    POST /v1/chat/completions           streaming as server-sent events, or not; temperature, seed,
                                        max_tokens / max_completion_tokens, stop
    GET /v1/models, GET /v1/models/NAME

Differences from those servers, on purpose: decoding is greedy unless a temperature above 0 is
given (Ollama defaults to 0.8, OpenAI to 1.0), sampling without a seed uses seed 0, and an answer
without a length limit stops after `--default-num-predict` tokens (Ollama's -1 is accepted and means
"until the context is full"). Options the runtime has no use for (top_k, top_p, num_ctx, ...) and the
requested output `format` are accepted and ignored: the answer is not constrained to JSON. Requests
that need what the model lacks (images, tools, thinking, suffix, a template of its own) get 400.

Requests are answered on threads; the model runs one generation at a time under a lock. The server
has no authentication, so it listens only on loopback addresses unless `--allow-remote` is given.
"""

from __future__ import annotations

import argparse
import datetime
import http.server
import ipaddress
import json
import pathlib
import socket
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from passlib import model_service

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 11434
# The API version /api/version reports: the version of this server (rules_iree_llm's).
SERVER_VERSION = "0.1.0"
MAX_REQUEST_BYTES = 16 << 20
OWNER = "rules_iree_llm"
_CHAT_ROLES = ("system", "user", "assistant", "tool")
_GET_ROUTES = ("/", "/api/tags", "/api/ps", "/api/version", "/v1/models")
_POST_ROUTES = ("/api/generate", "/api/chat", "/api/show", "/v1/chat/completions")


class HttpError(Exception):
    """An error answer: the HTTP status, the message, and for OpenAI's format a type and code."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        self.status = status
        self.message = message
        self.code = code
        super().__init__(message)


def _bad_request(message: str) -> HttpError:
    return HttpError(400, message, "invalid_request")


# --- reading requests -------------------------------------------------------------------------------


def _field(body: Mapping[str, Any], name: str, kinds: type | tuple[type, ...], default: Any = None) -> Any:
    """body[name] if present and of the given type(s), `default` if absent or null; 400 otherwise."""
    value = body.get(name)
    if value is None:
        return default
    allowed = kinds if isinstance(kinds, tuple) else (kinds,)
    # JSON true/false are Python bools, which are also ints: accept them only where bool is allowed.
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise _bad_request(f"{name!r} must be {_type_words(allowed)}, got {json.dumps(value)[:80]}")
    return value


def _type_words(kinds: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "an object"}
    if kinds == (int, float):
        return "a number"
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def _stop_strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise _bad_request(f"{where} must be a string or a list of strings")


def _refuse_unsupported(body: Mapping[str, Any], service: model_service.ModelService) -> None:
    """400 for request features this model cannot honour."""
    if body.get("images"):
        raise _bad_request(f"{service.tagged_name} does not support images")
    if body.get("tools"):
        raise _bad_request(f"{service.tagged_name} does not support tools")
    if body.get("think") not in (None, False):
        raise _bad_request(f"{service.tagged_name} does not support thinking")
    if body.get("suffix"):
        raise _bad_request(f"{service.tagged_name} does not support insert (suffix)")
    if body.get("template"):
        raise _bad_request("a request template is not supported: the bundle's chat template is used")


def _ollama_options(body: Mapping[str, Any]) -> dict[str, Any]:
    options = _field(body, "options", dict, {})
    temperature = _field(options, "temperature", (int, float), 0.0)
    num_predict = _field(options, "num_predict", int)
    return {
        "temperature": float(temperature),
        "seed": _field(options, "seed", int),
        "max_new_tokens": num_predict,
        "stop": _stop_strings(options.get("stop"), "options.stop"),
    }


def _messages(body: Mapping[str, Any], openai: bool) -> list[dict[str, str]]:
    """The chat messages of a request; with `openai`, also OpenAI's "developer" role and text parts."""
    messages = _field(body, "messages", list, [])
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad_request(f"messages[{index}] must be an object with 'role' and 'content'")
        role = message.get("role")
        if role == "developer" and openai:
            role = "system"
        if role not in _CHAT_ROLES:
            raise _bad_request(f"messages[{index}].role must be one of {', '.join(_CHAT_ROLES)}, got {role!r}")
        if message.get("images"):
            raise _bad_request("this model does not support images")
        content = message.get("content")
        if content is None:
            content = ""
        if openai and isinstance(content, list):
            content = _text_parts(content, index)
        if not isinstance(content, str):
            raise _bad_request(f"messages[{index}].content must be a string")
        checked.append({"role": role, "content": content})
    return checked


def _text_parts(parts: list[Any], index: int) -> str:
    texts = []
    for part in parts:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise _bad_request(f"messages[{index}].content: only text parts are supported")
        texts.append(part["text"])
    return "\n".join(texts)


# --- answers ------------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _nanoseconds(seconds: float) -> int:
    return int(seconds * 1e9)


def _ollama_stats(generation: model_service.Generation, started: float) -> dict[str, Any]:
    """The fields of Ollama's final answer: why it ended, token counts, durations in nanoseconds."""
    return {
        "done": True,
        "done_reason": generation.finish_reason,
        "total_duration": _nanoseconds(time.monotonic() - started),
        "load_duration": 0,
        "prompt_eval_count": len(generation.prompt_ids),
        # The runtime does prefill and decode in one call: this is the time of both.
        "eval_count": len(generation.output_ids),
        "eval_duration": _nanoseconds(generation.generate_s),
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes requests to the model service and writes Ollama's or OpenAI's answers."""

    protocol_version = "HTTP/1.1"
    server_version = f"passlib-serve/{SERVER_VERSION}"
    server: "ModelServer"

    # --- plumbing -------------------------------------------------------------------------------------

    @property
    def service(self) -> model_service.ModelService:
        return self.server.service

    def _openai_path(self) -> bool:
        return self.path.startswith("/v1/")

    def _send_bytes(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_json(self, status: int, payload: Mapping[str, Any]) -> None:
        self._send_bytes(status, json.dumps(payload).encode("utf-8"), "application/json; charset=utf-8")

    def _send_error_answer(self, error: HttpError) -> None:
        # The request body may be unread: close the connection rather than read it as the next request.
        self.close_connection = True
        if self._openai_path():
            kind = "invalid_request_error" if error.status < 500 else "server_error"
            payload: dict[str, Any] = {
                "error": {"message": error.message, "type": kind, "param": None, "code": error.code}}
        else:
            payload = {"error": error.message}
        self._send_json(error.status, payload)

    def _start_stream(self, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode("ascii") + data + b"\r\n")

    def _stream_lines(self, content_type: str, lines: Iterable[bytes]) -> None:
        self._start_stream(content_type)
        for line in lines:
            self._write_chunk(line)
        self.wfile.write(b"0\r\n\r\n")

    def _read_body(self) -> dict[str, Any]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise HttpError(411, "send the request body with a Content-Length header", "length_required")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _bad_request("Content-Length is not a number") from None
        if length > MAX_REQUEST_BYTES:
            raise HttpError(413, f"the request body has {length} bytes; the limit is {MAX_REQUEST_BYTES}",
                            "request_too_large")
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise _bad_request(f"the request body is not valid JSON: {error}") from None
        if not isinstance(body, dict):
            raise _bad_request("the request body must be a JSON object")
        return body

    def _model_name(self, body: Mapping[str, Any], field: str = "model") -> str:
        model = _field(body, field, str, "")
        if not model:
            raise _bad_request(f"{field!r} is required (this server serves {self.service.name!r})")
        if not self.service.serves(model):
            raise HttpError(404, f"model {model!r} not found; this server serves {self.service.name!r} "
                                 f"(bundle {self.service.bundle_dir})", "model_not_found")
        return model

    def _dispatch(self, handler: Callable[[], None]) -> None:
        try:
            handler()
        except HttpError as error:
            self._send_error_answer(error)
        except model_service.BadRequest as error:
            self._send_error_answer(_bad_request(str(error)))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away; nothing left to answer
        except Exception as error:  # one failed request must not stop the server
            self.log_error("request failed: %s: %s", type(error).__name__, error)
            self._send_error_answer(HttpError(500, f"the request failed: {type(error).__name__}: {error}",
                                              "server_error"))

    def do_GET(self) -> None:
        routes = {
            "/": self._get_root,
            "/api/tags": self._get_tags,
            "/api/ps": self._get_ps,
            "/api/version": lambda: self._send_json(200, {"version": SERVER_VERSION}),
            "/v1/models": self._get_openai_models,
        }
        path = self.path.split("?", 1)[0]
        if path.startswith("/v1/models/"):
            self._dispatch(lambda: self._get_openai_model(path[len("/v1/models/"):]))
        elif path in routes:
            self._dispatch(routes[path])
        else:
            self._dispatch(lambda: self._unknown_path(path))

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        routes = {
            "/api/generate": self._post_generate,
            "/api/chat": self._post_chat,
            "/api/show": self._post_show,
            "/v1/chat/completions": self._post_chat_completions,
        }
        path = self.path.split("?", 1)[0]
        self._dispatch(routes.get(path, lambda: self._unknown_path(path)))

    def _unknown_path(self, path: str) -> None:
        if path in _GET_ROUTES or path in _POST_ROUTES:
            allowed = "GET" if path in _GET_ROUTES else "POST"
            raise HttpError(405, f"{self.command} {path} is not allowed; use {allowed}", "method_not_allowed")
        raise HttpError(404, f"no such endpoint: {self.command} {path}", "not_found")

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)

    # --- Ollama ---------------------------------------------------------------------------------------

    def _get_root(self) -> None:
        self._send_bytes(200, b"Ollama is running", "text/plain; charset=utf-8")

    def _model_entry(self) -> dict[str, Any]:
        service = self.service
        return {
            "name": service.tagged_name,
            "model": service.tagged_name,
            "modified_at": service.modified_at,
            "size": service.size,
            "digest": service.digest,
            "details": service.details(),
        }

    def _get_tags(self) -> None:
        self._send_json(200, {"models": [self._model_entry()]})

    def _get_ps(self) -> None:
        entry = self._model_entry()
        del entry["modified_at"]
        entry.update(expires_at="9999-12-31T23:59:59Z", size_vram=0, context_length=self.service.capacity)
        self._send_json(200, {"models": [entry]})

    def _post_show(self) -> None:
        body = self._read_body()
        # Ollama also accepts the older field "name".
        self._model_name(body, "name" if body.get("name") and not body.get("model") else "model")
        service = self.service
        self._send_json(200, {
            "modelfile": f"# served by passlib from the bundle {service.bundle_dir}\nFROM {service.tagged_name}\n",
            "parameters": f"num_ctx {service.capacity}",
            "template": service.chat_template(),
            "details": service.details(),
            "model_info": service.model_info(),
            "capabilities": ["completion"],
            "modified_at": service.modified_at,
        })

    def _ollama_answer(self, model: str, body: Mapping[str, Any], prompt_ids: list[int], chat: bool) -> None:
        """Generates and answers in Ollama's format, streamed unless "stream" is false."""
        started = time.monotonic()
        stream = _field(body, "stream", bool, True)
        options = _ollama_options(body)
        generation = self.service.generate(model_service.GenerationRequest(prompt_ids, **options))

        def part(text: str) -> dict[str, Any]:
            if chat:
                return {"model": model, "created_at": _now(),
                        "message": {"role": "assistant", "content": text}, "done": False}
            return {"model": model, "created_at": _now(), "response": text, "done": False}

        lines = [json.dumps(part(piece)).encode("utf-8") + b"\n" for piece in generation.pieces] if stream else []
        final = part("" if stream else generation.text)
        final.update(_ollama_stats(generation, started))
        if not chat:
            final["context"] = generation.prompt_ids + generation.output_ids
        if not stream:
            self._send_json(200, final)
            return
        lines.append(json.dumps(final).encode("utf-8") + b"\n")
        self._stream_lines("application/x-ndjson", lines)

    def _load_answer(self, model: str, chat: bool) -> None:
        """Ollama's answer to a request without a prompt: the model is loaded, nothing generated."""
        answer: dict[str, Any] = {"model": model, "created_at": _now(), "done": True, "done_reason": "load"}
        if chat:
            answer["message"] = {"role": "assistant", "content": ""}
        else:
            answer["response"] = ""
        self._send_json(200, answer)

    def _post_generate(self) -> None:
        body = self._read_body()
        model = self._model_name(body)
        _refuse_unsupported(body, self.service)
        prompt = _field(body, "prompt", str, "")
        system = _field(body, "system", str)
        context = _field(body, "context", list, [])
        if not all(isinstance(token, int) and not isinstance(token, bool) for token in context):
            raise _bad_request("'context' must be a list of token ids")
        if not prompt and not context:
            self._load_answer(model, chat=False)
            return
        if _field(body, "raw", bool, False):
            prompt_ids = self.service.raw_prompt_ids(prompt) if prompt else []
        else:
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": prompt}]
            prompt_ids = self.service.chat_prompt_ids(messages)
        self._ollama_answer(model, body, list(context) + prompt_ids, chat=False)

    def _post_chat(self) -> None:
        body = self._read_body()
        model = self._model_name(body)
        _refuse_unsupported(body, self.service)
        messages = _messages(body, openai=False)
        if not messages:
            self._load_answer(model, chat=True)
            return
        self._ollama_answer(model, body, self.service.chat_prompt_ids(messages), chat=True)

    # --- OpenAI ---------------------------------------------------------------------------------------

    def _openai_model(self) -> dict[str, Any]:
        created = int(datetime.datetime.fromisoformat(self.service.modified_at.replace("Z", "+00:00")).timestamp())
        return {"id": self.service.name, "object": "model", "created": created, "owned_by": OWNER}

    def _get_openai_models(self) -> None:
        self._send_json(200, {"object": "list", "data": [self._openai_model()]})

    def _get_openai_model(self, name: str) -> None:
        if not self.service.serves(name):
            raise HttpError(404, f"model {name!r} not found; this server serves {self.service.name!r}",
                            "model_not_found")
        self._send_json(200, self._openai_model())

    def _post_chat_completions(self) -> None:
        body = self._read_body()
        model = self._model_name(body)
        if body.get("tools"):
            raise _bad_request(f"{self.service.name} does not support tools")
        if _field(body, "n", int, 1) != 1:
            raise _bad_request("'n' must be 1: this server returns one choice")
        messages = _messages(body, openai=True)
        if not messages:
            raise _bad_request("'messages' must hold at least one message")
        max_tokens = _field(body, "max_completion_tokens", int)
        if max_tokens is None:
            max_tokens = _field(body, "max_tokens", int)
        if max_tokens is not None and max_tokens < 1:
            raise _bad_request("'max_tokens' must be at least 1")
        stream = _field(body, "stream", bool, False)
        stream_options = _field(body, "stream_options", dict, {})
        request = model_service.GenerationRequest(
            self.service.chat_prompt_ids(messages),
            max_new_tokens=max_tokens,
            temperature=float(_field(body, "temperature", (int, float), 0.0)),
            seed=_field(body, "seed", int),
            stop=_stop_strings(body.get("stop"), "'stop'"),
        )
        generation = self.service.generate(request)
        identifier = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        usage = {
            "prompt_tokens": len(generation.prompt_ids),
            "completion_tokens": len(generation.output_ids),
            "total_tokens": len(generation.prompt_ids) + len(generation.output_ids),
        }
        if not stream:
            self._send_json(200, {
                "id": identifier,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [{
                    "index": 0,
                    "message": {"role": "assistant", "content": generation.text},
                    "logprobs": None,
                    "finish_reason": generation.finish_reason,
                }],
                "usage": usage,
            })
            return

        def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
            return {"id": identifier, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]}

        events = [chunk({"role": "assistant", "content": ""}, None)]
        events += [chunk({"content": piece}, None) for piece in generation.pieces]
        events.append(chunk({}, generation.finish_reason))
        if _field(stream_options, "include_usage", bool, False):
            events.append({"id": identifier, "object": "chat.completion.chunk", "created": created,
                           "model": model, "choices": [], "usage": usage})
        lines = [b"data: " + json.dumps(event).encode("utf-8") + b"\n\n" for event in events]
        lines.append(b"data: [DONE]\n\n")
        self._stream_lines("text/event-stream", lines)


class ModelServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server that holds the model service its handlers use."""

    daemon_threads = True

    def __init__(self, address: tuple[Any, ...], family: socket.AddressFamily,
                 service: model_service.ModelService, quiet: bool = False) -> None:
        self.address_family = family
        self.service = service
        self.quiet = quiet
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        if self.address_family == socket.AF_INET6:
            host = f"[{host}]"
        return f"http://{host}:{port}"


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


DESCRIPTION = "Serve a compiled model bundle over Ollama's and OpenAI's HTTP APIs."


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


def run(arguments: argparse.Namespace) -> int:
    """Runs `serve` until interrupted; returns the exit status (2 when it cannot start)."""
    try:
        family, address = resolve_bind_address(arguments.host, arguments.port, arguments.allow_remote)
        service = model_service.ModelService.load(arguments.model, arguments.name, arguments.default_num_predict)
    except (ValueError, model_service.ModelLoadError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        server = ModelServer(address, family, service, arguments.quiet)
    except OSError as error:
        print(f"error: cannot listen on {arguments.host}:{arguments.port}: {error.strerror}", file=sys.stderr)
        return 2
    print(f"passlib serve: model {service.name!r} (bundle {service.bundle_dir}) listening on {server.url}",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
