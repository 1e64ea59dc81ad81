"""LLM backends for passlib: one interface, three ways to reach a model.

- `iree`: in process, from a compiled model bundle (`artifacts.runtime.load_bundle`), loaded lazily
  on the first completion so that cache-only runs never load a model.
- `ollama`: an Ollama server's `/api/generate`.
- `openai`: any OpenAI-compatible `/v1/chat/completions` endpoint.

HTTP uses only the standard library (urllib). Decoding is greedy (temperature 0) unless sampling is
asked for, and sampling always carries a seed. Failures raise BackendError with a kind
("unreachable", "timeout", "server", "protocol"), which the driver turns into a reason in the report.

A server's answer is untrusted: each request has a total deadline (connecting, sending and every
read together; a server that dribbles its answer is cut off when it passes), its body is capped at
MAX_RESPONSE_BYTES, redirects are not followed (the API key goes to the configured server only),
and whatever comes back (a bad status line, a truncated body, bytes that are not UTF-8, JSON that is
invalid or too deeply nested) is a BackendError, never an exception of its own.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
import hashlib
import http.client
import json
import math
import os
import pathlib
import socket
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from passlib import constrained, extract, prompts

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_TIMEOUT_SECONDS = 120.0
DEFAULT_SAMPLING_SEED = 0
# Environment variables: Ollama's and OpenAI's own names for the endpoint and key, ours for the rest.
OLLAMA_HOST_VARIABLE = "OLLAMA_HOST"
OLLAMA_MODEL_VARIABLE = "PASSLIB_OLLAMA_MODEL"
OPENAI_BASE_URL_VARIABLE = "OPENAI_BASE_URL"
OPENAI_API_KEY_VARIABLE = "OPENAI_API_KEY"
OPENAI_MODEL_VARIABLE = "PASSLIB_OPENAI_MODEL"
TIMEOUT_VARIABLE = "PASSLIB_LLM_TIMEOUT_S"
BACKEND_KINDS = ("auto", "iree", "ollama", "openai")
# The most bytes of a response body read; a larger body is a protocol error. An answer of
# max_new_tokens tokens is a few hundred kilobytes at most, even JSON-escaped.
MAX_RESPONSE_BYTES = 8 << 20
# The most bytes of an error status's body read, and the most characters of it a message quotes.
_ERROR_BODY_BYTES = 4096
_DETAIL_CHARS = 500
_READ_CHUNK_BYTES = 64 << 10
# backend "auto": how long to wait for an Ollama server's /api/tags, and the most of its answer read.
_AUTO_PROBE_TIMEOUT_S = 2.0
_AUTO_PROBE_MAX_BYTES = 1 << 20
# MLIR averages about 2.5 bytes per token with byte-level BPE vocabularies (measured with Qwen2's);
# two bytes per token overestimates, so a budget checked with it holds for the real tokenizer.
_ESTIMATED_BYTES_PER_TOKEN = 2


@dataclasses.dataclass(frozen=True)
class DecodingOptions:
    """How to decode: greedy when temperature is 0, otherwise seeded sampling.

    json_schema: the answer must match this JSON schema. HTTP backends pass it to the server; the
    iree backend enforces a schedule answer schema (`schedule.answer_schema`) token by token
    (`passlib.constrained`) and ignores other schemas.
    stop_at_closing_fence: stop once the answer has closed a fenced code block (```mlir ... ```).
    Only the iree backend honours it; HTTP backends ignore it (their APIs have no such stop rule).
    """

    max_new_tokens: int = 1024
    temperature: float = 0.0
    seed: int | None = None
    json_schema: Mapping[str, Any] | None = None
    stop_at_closing_fence: bool = False

    def __post_init__(self) -> None:
        if self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens must be positive, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be 0 (greedy) or positive, got {self.temperature}")

    @property
    def greedy(self) -> bool:
        """Whether decoding picks the most likely token every time."""
        return self.temperature == 0.0

    @property
    def sampling_seed(self) -> int | None:
        """The seed used when sampling (a fixed default if none was given); None when greedy."""
        if self.greedy:
            return None
        return DEFAULT_SAMPLING_SEED if self.seed is None else self.seed

    def key(self) -> dict[str, Any]:
        """The options that change the answer, as plain data (part of the cache key)."""
        key = {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "seed": self.sampling_seed,
            "json_schema": self.json_schema,
        }
        if self.stop_at_closing_fence:  # only when set, so that earlier cache keys still match
            key["stop_at_closing_fence"] = True
        return key


@dataclasses.dataclass(frozen=True)
class Completion:
    """An answer and what it cost."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    finish_reason: str | None = None


class BackendError(Exception):
    """The model could not answer.

    `kind` is unreachable (no server, no bundle), model (the bundle does not load), generation (one
    generation failed), timeout, server (an HTTP error status), protocol (an answer we cannot read)
    or cache_miss.
    """

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(f"{kind}: {message}")


class Backend(abc.ABC):
    """A way to get completions from one model."""

    kind: str

    @abc.abstractmethod
    def identity(self) -> str:
        """Names the model (a manifest digest or name and endpoint) without loading or calling it."""

    @abc.abstractmethod
    def count_tokens(self, text: str) -> int:
        """The number of tokens `text` takes for this model (an overestimate if unknown)."""

    @abc.abstractmethod
    def complete(self, prompt: prompts.Prompt, options: DecodingOptions) -> Completion:
        """The model's answer to `prompt`; raises BackendError when there is none."""

    def context_limit(self) -> int | None:
        """The most tokens (prompt and answer) the model can hold, when the backend knows it."""
        return None

    def describe(self) -> dict[str, Any]:
        """What the report says about this backend."""
        return {"kind": self.kind, "identity": self.identity()}


def estimate_tokens(text: str) -> int:
    """A deliberately high token count for when the model's tokenizer is not at hand."""
    return math.ceil(len(text.encode("utf-8")) / _ESTIMATED_BYTES_PER_TOKEN)


def tokenizer_json_counter(path: pathlib.Path) -> Callable[[str], int]:
    """A token counter from a Hugging Face `tokenizer.json` (e.g. the served model's own)."""
    import tokenizers

    if not path.is_file():
        raise FileNotFoundError(f"tokenizer file {path} does not exist; pass the model's tokenizer.json")
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def _timeout_from(option: float | None) -> float:
    """The total seconds one request may take: the option, else the environment, else the default."""
    if option is not None:
        return _positive_seconds(option, "--timeout")
    value = os.environ.get(TIMEOUT_VARIABLE)
    if not value:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{TIMEOUT_VARIABLE}={value!r} is not a number of seconds") from None
    return _positive_seconds(seconds, f"{TIMEOUT_VARIABLE}={value!r}")


def _positive_seconds(seconds: float, name: str) -> float:
    if not (0 < seconds < math.inf):
        raise ValueError(f"{name} must be a positive, finite number of seconds")
    return seconds


def _is_timeout(reason: object) -> bool:
    return isinstance(reason, (TimeoutError, socket.timeout)) or "timed out" in str(reason)


def _short(value: object) -> str:
    """Untrusted text (or JSON data, written as JSON), cut to _DETAIL_CHARS for a message."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            text = f"<{type(value).__name__}>"
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "..."


class _Deadline:
    """The total time one HTTP exchange may take, enforced on the sockets it opens.

    A socket timeout bounds each read, not their sum: a server that sends a byte a second never
    trips it. So a timer shuts down the exchange's sockets when the deadline passes, which ends
    whatever read or write is waiting on them; `expired` then says why the exchange failed. The
    deadline keeps a duplicate of each socket's descriptor: a shutdown through it reaches the
    connection even after TLS has taken the socket over, and it cannot hit a reused descriptor.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._end = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        with self._lock:
            for duplicate in self._sockets:
                duplicate.close()
            self._sockets.clear()

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(0.0, self._end - time.monotonic())

    def watch(self, connection: socket.socket) -> socket.socket:
        """Shuts `connection` down at the deadline (at once if it has passed); returns it."""
        with self._lock:
            self._sockets.append(connection.dup())
            if self.expired:
                _shut_down(self._sockets[-1])
        return connection

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for duplicate in self._sockets:
                _shut_down(duplicate)


def _shut_down(connection: socket.socket) -> None:
    try:
        connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # not connected, or closed by the other end already


class _DeadlineConnection:
    """Mixed into http.client's connections: the deadline watches every socket they open."""

    def __init__(self, *args: Any, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        create = self._create_connection  # http.client's hook that opens the socket
        self._create_connection = lambda *arguments, **options: deadline.watch(create(*arguments, **options))


class _HTTPConnection(_DeadlineConnection, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_DeadlineConnection, http.client.HTTPSConnection):
    pass


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _DeadlineHandler(urllib.request.AbstractHTTPHandler):
    """urllib's http and https handler, with connections that the deadline watches."""

    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, request: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPConnection, request, deadline=self._deadline)

    def https_open(self, request: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_HTTPSConnection, request, deadline=self._deadline, context=_tls_context())

    http_request = urllib.request.AbstractHTTPHandler.do_request_
    https_request = urllib.request.AbstractHTTPHandler.do_request_


def _opener(deadline: _Deadline) -> urllib.request.OpenerDirector:
    """http and https (through the environment's proxies) under `deadline`; no redirects, no other schemes."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), _DeadlineHandler(deadline), urllib.request.UnknownHandler(),
                    urllib.request.HTTPDefaultErrorHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _read_capped(response: Any, limit: int, url: str) -> bytes:
    """The body, read in chunks; a protocol error once it passes `limit` bytes."""
    body = bytearray()
    while chunk := response.read(_READ_CHUNK_BYTES):
        body += chunk
        if len(body) > limit:
            raise BackendError("protocol", f"{url} answered with more than {limit} bytes")
    return bytes(body)


def _error_detail(error: urllib.error.HTTPError) -> str:
    """The start of an error status's body, as text (empty when it cannot be read)."""
    try:
        body = error.read(_ERROR_BODY_BYTES)
    except (OSError, http.client.HTTPException, ValueError):
        body = b""
    finally:
        error.close()
    return _short(body.decode("utf-8", errors="replace"))


def _transport_error(url: str, error: Exception, deadline: _Deadline) -> BackendError:
    """The BackendError for what went wrong on the way (the deadline explains any failure after it)."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if deadline.expired or _is_timeout(reason):
        return BackendError("timeout", f"{url} did not answer within {deadline.seconds:g} s")
    if isinstance(reason, http.client.HTTPException):
        detail = f"{type(reason).__name__}: {_short(str(reason))}"
        return BackendError("protocol", f"{url} broke the HTTP protocol: {detail}")
    if isinstance(reason, OSError):
        return BackendError("unreachable", f"cannot reach {url}: {_short(str(reason))}")
    return BackendError("protocol", f"{url} answered with something unreadable: {_short(str(reason))}")


def _exchange(request: urllib.request.Request, timeout_s: float, limit: int) -> bytes:
    """The body of the answer to `request`, all within `timeout_s`; every failure is a BackendError."""
    url = request.full_url
    with _Deadline(timeout_s) as deadline:
        try:
            with _opener(deadline).open(request, timeout=deadline.remaining()) as response:
                body = _read_capped(response, limit, url)
        except urllib.error.HTTPError as error:
            raise BackendError("server", f"{url} answered HTTP {error.code}: {_error_detail(error)}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            raise _transport_error(url, error, deadline) from None
        if deadline.expired:  # a body cut short by the deadline can look complete
            raise _transport_error(url, TimeoutError(), deadline)
    return body


def _json_object(url: str, body: bytes) -> dict[str, Any]:
    """The body as a JSON object; a protocol error for anything else."""
    try:
        answer = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise BackendError("protocol", f"{url} answered with bytes that are not UTF-8 ({error.reason} "
                                       f"at byte {error.start})") from None
    except RecursionError:
        raise BackendError("protocol", f"{url} answered with JSON nested too deeply") from None
    except ValueError as error:  # invalid JSON, or a number too long to convert
        raise BackendError("protocol", f"{url} answered with invalid JSON: {_short(str(error))}") from None
    if not isinstance(answer, dict):
        raise BackendError("protocol", f"{url} answered with JSON that is not an object")
    return answer


def post_json(url: str, payload: Mapping[str, Any], timeout_s: float,
              headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """POSTs JSON and returns the JSON answer, all within `timeout_s`; every failure becomes a BackendError."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json", **(headers or {})},
        method="POST",
    )
    return _json_object(url, _exchange(request, timeout_s, MAX_RESPONSE_BYTES))


def _token_count(value: object) -> int | None:
    """A token count from an answer: a non-negative integer, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _finish_reason(value: object) -> str | None:
    return _short(value) if isinstance(value, str) else None


def normalize_ollama_host(host: str) -> str:
    """Ollama's host forms ("host", "host:port", "http://host:port") as a base URL."""
    if "://" not in host:
        host = "http://" + host
    parsed = urllib.parse.urlsplit(host)
    if not parsed.hostname:
        raise ValueError(f"Ollama host {host!r} has no host name; use e.g. http://127.0.0.1:11434")
    port = parsed.port or 11434
    return f"{parsed.scheme}://{parsed.hostname}:{port}{parsed.path.rstrip('/')}"


class OllamaBackend(Backend):
    """An Ollama server, through `/api/generate` without streaming."""

    kind = "ollama"

    def __init__(self, model: str | None = None, host: str | None = None,
                 timeout_s: float | None = None,
                 count_tokens: Callable[[str], int] = estimate_tokens) -> None:
        model = model or os.environ.get(OLLAMA_MODEL_VARIABLE)
        if not model:
            raise ValueError(
                f"the ollama backend needs a model name: pass --model or set {OLLAMA_MODEL_VARIABLE}"
            )
        self.model = model
        self.host = normalize_ollama_host(host or os.environ.get(OLLAMA_HOST_VARIABLE) or DEFAULT_OLLAMA_HOST)
        self.timeout_s = _timeout_from(timeout_s)
        self._count_tokens = count_tokens

    def identity(self) -> str:
        return f"ollama:{self.model}@{self.host}"

    def count_tokens(self, text: str) -> int:
        return self._count_tokens(text)

    def complete(self, prompt: prompts.Prompt, options: DecodingOptions) -> Completion:
        model_options: dict[str, Any] = {
            "temperature": options.temperature,
            "num_predict": options.max_new_tokens,
        }
        if options.sampling_seed is not None:
            model_options["seed"] = options.sampling_seed
        payload: dict[str, Any] = {
            "model": self.model,
            "system": prompt.system,
            "prompt": prompt.user,
            "stream": False,
            "options": model_options,
        }
        if options.json_schema is not None:
            payload["format"] = dict(options.json_schema)
        started = time.monotonic()
        answer = post_json(f"{self.host}/api/generate", payload, self.timeout_s)
        latency = time.monotonic() - started
        if "error" in answer:
            raise BackendError("server", f"ollama: {_short(answer['error'])}")
        text = answer.get("response")
        if not isinstance(text, str):
            raise BackendError("protocol", "ollama's answer has no 'response' text")
        return Completion(
            text,
            _token_count(answer.get("prompt_eval_count")),
            _token_count(answer.get("eval_count")),
            latency,
            _finish_reason(answer.get("done_reason")),
        )


class OpenAIBackend(Backend):
    """Any server with OpenAI's `/chat/completions` (OpenAI, vLLM, llama.cpp's server, ...)."""

    kind = "openai"

    def __init__(self, model: str | None = None, base_url: str | None = None,
                 api_key: str | None = None, timeout_s: float | None = None,
                 count_tokens: Callable[[str], int] = estimate_tokens) -> None:
        model = model or os.environ.get(OPENAI_MODEL_VARIABLE)
        if not model:
            raise ValueError(
                f"the openai backend needs a model name: pass --model or set {OPENAI_MODEL_VARIABLE}"
            )
        self.model = model
        self.base_url = (base_url or os.environ.get(OPENAI_BASE_URL_VARIABLE)
                         or DEFAULT_OPENAI_BASE_URL).rstrip("/")
        self._api_key = api_key or os.environ.get(OPENAI_API_KEY_VARIABLE)
        self.timeout_s = _timeout_from(timeout_s)
        self._count_tokens = count_tokens

    def identity(self) -> str:
        return f"openai:{self.model}@{self.base_url}"

    def count_tokens(self, text: str) -> int:
        return self._count_tokens(text)

    def complete(self, prompt: prompts.Prompt, options: DecodingOptions) -> Completion:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": prompt.messages(),
            "temperature": options.temperature,
            "max_tokens": options.max_new_tokens,
        }
        if options.sampling_seed is not None:
            payload["seed"] = options.sampling_seed
        if options.json_schema is not None:
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": dict(options.json_schema), "strict": True},
            }
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        started = time.monotonic()
        answer = post_json(f"{self.base_url}/chat/completions", payload, self.timeout_s, headers)
        latency = time.monotonic() - started
        try:
            choice = answer["choices"][0]
            text = choice["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise BackendError("protocol", "the answer has no choices[0].message.content") from None
        if not isinstance(text, str):
            raise BackendError("protocol", "choices[0].message.content is not text")
        usage = answer.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return Completion(
            text,
            _token_count(usage.get("prompt_tokens")),
            _token_count(usage.get("completion_tokens")),
            latency,
            _finish_reason(choice.get("finish_reason")),
        )


class IreeBackend(Backend):
    """Our own compiled model bundle, run in process by `artifacts.runtime` (loaded on first use)."""

    kind = "iree"

    def __init__(self, bundle_dir: pathlib.Path) -> None:
        self.bundle_dir = pathlib.Path(bundle_dir)
        self._runtime: Any = None

    def identity(self) -> str:
        manifest = self.bundle_dir / "manifest.json"
        try:
            digest = hashlib.sha256(manifest.read_bytes()).hexdigest()
        except OSError as error:
            raise BackendError(
                "unreachable",
                f"cannot read the bundle manifest {manifest} ({error.strerror}); "
                "pass --model with a bundle directory built by llm_artifacts",
            ) from None
        return f"iree:sha256:{digest}"

    def _runtime_instance(self) -> Any:
        if self._runtime is None:
            self.identity()
            try:
                from artifacts import runtime

                self._runtime = runtime.load_bundle(self.bundle_dir)
            except Exception as error:  # a bundle that does not load means no model, not a crash
                raise BackendError("model", f"cannot load the bundle {self.bundle_dir}: {error}") from None
        return self._runtime

    def context_limit(self) -> int | None:
        return int(self._runtime_instance().capacity)

    def count_tokens(self, text: str) -> int:
        runtime = self._runtime_instance()
        try:
            return len(runtime.encode(text, add_special_tokens=False))
        except Exception as error:  # the model runtime is a black box: any failure is the model's
            raise BackendError("model", f"the bundle's tokenizer failed: {error}") from error

    def _schedule_decoder(self, runtime: Any, options: DecodingOptions) -> Any:
        """A constrained decoder when the schema asks for a schedule answer, else None."""
        if not constrained.is_schedule_answer_schema(options.json_schema):
            return None
        generation = runtime.generation
        stops = list(generation.stop_token_ids)
        eos = generation.eos_token_id if generation.eos_token_id in stops or not stops else stops[0]
        constraint = constrained.schedule_constraint(
            runtime.tokenizer, constrained.schema_pass_names(options.json_schema), eos)
        return constraint.decoder(options.max_new_tokens)

    @staticmethod
    def _fence_stop(runtime: Any) -> Callable[[list[int]], bool]:
        """stop_when for stop_at_closing_fence: the answer holds a closed fenced block."""

        def closed(generated: list[int]) -> bool:
            # decode everything only when the new token can end a fence
            last = runtime.tokenizer.decode([generated[-1]], skip_special_tokens=False)
            if "`" not in last and "~" not in last:
                return False
            # the same fences the rewrite answer's extraction reads
            return any(block.closed for block in extract.fenced_blocks(runtime.decode(generated)))

        return closed

    def complete(self, prompt: prompts.Prompt, options: DecodingOptions) -> Completion:
        runtime = self._runtime_instance()
        started = time.monotonic()
        try:
            # The chat template writes any BOS token itself.
            chat = runtime.apply_chat_template(prompt.messages())
            prompt_ids = runtime.encode(chat, add_special_tokens=False)
            decoder = self._schedule_decoder(runtime, options)
            hooks: dict[str, Any] = {}
            if decoder is not None:
                hooks = {"logits_processor": decoder.process, "stop_when": decoder.finished}
            elif options.stop_at_closing_fence:
                hooks = {"stop_when": self._fence_stop(runtime)}
            output_ids = list(runtime.generate(
                prompt_ids,
                options.max_new_tokens,
                seed=options.sampling_seed,
                temperature=options.temperature,
                **hooks,
            ))
            text = runtime.decode(output_ids)
        except Exception as error:  # one failed generation (e.g. too long for the KV cache)
            raise BackendError("generation", f"{type(error).__name__}: {error}") from error
        latency = time.monotonic() - started
        finished = decoder is not None and decoder.finished(output_ids)
        finish = "length" if len(output_ids) >= options.max_new_tokens and not finished else "stop"
        return Completion(text, len(prompt_ids), len(output_ids), latency, finish)


class UnavailableBackend(Backend):
    """No model could be found (backend "auto"): every completion fails with the reason, so each unit
    keeps the search's result or the input and the report says why."""

    kind = "none"

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def identity(self) -> str:
        return "none"

    def count_tokens(self, text: str) -> int:
        return estimate_tokens(text)

    def complete(self, prompt: prompts.Prompt, options: DecodingOptions) -> Completion:
        raise BackendError("unreachable", self.reason)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "identity": None, "reason": self.reason}


def _ollama_models(host: str) -> list[str] | None:
    """The model names an Ollama server at `host` lists, or None when none answers in time."""
    url = f"{host}/api/tags"
    try:
        answer = _json_object(url, _exchange(urllib.request.Request(url), _AUTO_PROBE_TIMEOUT_S,
                                             _AUTO_PROBE_MAX_BYTES))
    except BackendError:
        return None
    models = answer.get("models")
    if not isinstance(models, list):
        return None
    return [m["name"] for m in models if isinstance(m, dict) and isinstance(m.get("name"), str) and m["name"]]


def auto_backend(model: str | None, endpoint: str | None, timeout_s: float | None,
                 count_tokens: Callable[[str], int]) -> Backend:
    """The bundle if `model` is one, else an Ollama server if one answers, else UnavailableBackend."""
    if model and (pathlib.Path(model) / "manifest.json").is_file():
        return IreeBackend(pathlib.Path(model))
    host = normalize_ollama_host(endpoint or os.environ.get(OLLAMA_HOST_VARIABLE) or DEFAULT_OLLAMA_HOST)
    names = _ollama_models(host)
    if names is None:
        return UnavailableBackend(f"no bundle given (--model BUNDLE_DIR) and no Ollama server answers at {host}")
    chosen = model or os.environ.get(OLLAMA_MODEL_VARIABLE) or (names[0] if names else None)
    if not chosen:
        return UnavailableBackend(f"the Ollama server at {host} lists no model; pull one or pass --model")
    return OllamaBackend(chosen, host, timeout_s, count_tokens)


def create_backend(kind: str, *, model: str | None = None, endpoint: str | None = None,
                   timeout_s: float | None = None, tokenizer: pathlib.Path | None = None) -> Backend:
    """A backend by name: `model` is the bundle directory for iree, the model name otherwise."""
    if kind == "iree":
        if not model:
            raise ValueError("the iree backend needs --model BUNDLE_DIR (a bundle built by llm_artifacts)")
        return IreeBackend(pathlib.Path(model))
    counter = tokenizer_json_counter(tokenizer) if tokenizer is not None else estimate_tokens
    if kind == "auto":
        return auto_backend(model, endpoint, timeout_s, counter)
    if kind == "ollama":
        return OllamaBackend(model, endpoint, timeout_s, counter)
    if kind == "openai":
        return OpenAIBackend(model, endpoint, None, timeout_s, counter)
    raise ValueError(f"unknown backend {kind!r}: choose one of {', '.join(BACKEND_KINDS)}")
