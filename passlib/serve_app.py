"""The ASGI app of passlib's server (Starlette): routes, request bodies, streaming, error answers.

Ollama (`ollama.Client`, passlib's `ollama` backend):
    POST /api/generate, POST /api/chat  streamed (newline-delimited JSON, the default, as Ollama)
                                        or not ("stream": false)
    GET /api/tags, GET /api/ps, POST /api/show, GET /api/version, GET / ("Ollama is running")
OpenAI (OpenAI's clients and passlib's `openai` backend, base_url http://HOST:PORT/v1):
    POST /v1/chat/completions, POST /v1/completions   streamed as server-sent events, or not
    GET /v1/models, GET /v1/models/NAME

Generation goes through the GenerationScheduler: a streamed answer sends each piece as the model
thread samples it; a client that disconnects (while waiting, while streaming, or while waiting for
a whole answer) has its request cancelled, which frees its KV-cache pages before the next step.

Request bodies: a POST needs a Content-Length (411 without, unless the body is chunked); bodies over
the limit get 413, from the Content-Length before anything is read, or as soon as a chunked body
passes it. Every error answer is JSON with a one-line reason (OpenAI's error object under /v1/):
client mistakes are 4xx (serve_protocol), a full queue is 503 with Retry-After, and anything
unexpected is a 500 that says only that it failed; the traceback goes to the server's log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from passlib import model_service, serve_answers, serve_protocol
from passlib.generation_scheduler import Failed, Finished, GenerationJob, GenerationScheduler, Piece, Unavailable
from passlib.serve_guard import HostOriginGuard

# The API version /api/version reports: the version of this server (rules_iree_llm's).
SERVER_VERSION = "0.1.0"
DEFAULT_MAX_REQUEST_BYTES = 16 << 20
# Seconds a client told 503 (queue full) should wait before it tries again.
RETRY_AFTER_S = 1
# The status logged for a request whose client went away before its answer (nginx's convention).
CLIENT_CLOSED_REQUEST = 499
GENERIC_FAILURE = "the server failed to answer this request; the server's log has the details"

logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class _ClientGone(Exception):
    """The client disconnected: nobody is left to answer."""


def _is_openai(request: Request) -> bool:
    return request.url.path.startswith("/v1/")


def _error_response(request: Request, error: serve_protocol.ProtocolError) -> JSONResponse:
    payload = serve_answers.error_payload(_is_openai(request), error.status, error.message, error.code)
    return JSONResponse(payload, status_code=error.status, headers=error.headers)


def _as_protocol_error(request: Request, error: Exception) -> serve_protocol.ProtocolError:
    """The answer to an exception: 400 for BadRequest, 503 for Unavailable, a generic 500 (logged)
    for anything unexpected."""
    if isinstance(error, serve_protocol.ProtocolError):
        return error
    if isinstance(error, model_service.BadRequest):
        return serve_protocol.bad_request(str(error))
    if isinstance(error, Unavailable):
        return serve_protocol.ProtocolError(503, str(error), "server_busy", {"Retry-After": str(RETRY_AFTER_S)})
    logger.error("%s %s failed", request.method, request.url.path, exc_info=error)
    return serve_protocol.ProtocolError(500, GENERIC_FAILURE, "server_error")


_Endpoint = Callable[[Any, Request], Awaitable[Response]]


def _answers_errors(endpoint: _Endpoint) -> _Endpoint:
    """An endpoint (method) whose exceptions become error answers (see _as_protocol_error)."""

    @functools.wraps(endpoint)
    async def answer(self: Any, request: Request) -> Response:
        try:
            return await endpoint(self, request)
        except (_ClientGone, ClientDisconnect):
            return Response(status_code=CLIENT_CLOSED_REQUEST)
        except Exception as error:
            return _error_response(request, _as_protocol_error(request, error))

    return answer


async def _routing_error(request: Request, error: HTTPException) -> Response:
    """404 for an unknown path, 405 for a known one with the wrong method, in the API's format."""
    where = f"{request.method} {request.url.path}"
    if error.status_code == 405:
        allowed = (error.headers or {}).get("Allow", "").replace(", HEAD", "")
        failure = serve_protocol.ProtocolError(405, f"{where} is not allowed; use {allowed}", "method_not_allowed",
                                               {"Allow": (error.headers or {}).get("Allow", "")})
    else:
        failure = serve_protocol.ProtocolError(404, f"no such endpoint: {where}", "not_found")
    return _error_response(request, failure)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, at most `limit` bytes: 411 without Content-Length (and not chunked), 413
    when it is longer (from Content-Length before reading, or while reading a chunked body)."""
    length = request.headers.get("content-length")
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    close = {"Connection": "close"}  # the body is left unread: the connection cannot carry another request
    if length is None and not chunked:
        raise serve_protocol.ProtocolError(411, "a POST needs a Content-Length header (or a chunked body)",
                                           "length_required", close)
    if length is not None and int(length) > limit:  # h11 has checked that it is a decimal number
        raise serve_protocol.ProtocolError(413, f"the request body has {length} bytes; the limit is {limit}",
                                           "request_too_large", close)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise serve_protocol.ProtocolError(413, f"the request body is over the limit of {limit} bytes",
                                               "request_too_large", close)
        chunks.append(chunk)
    return b"".join(chunks)


async def _disconnection(receive: Receive) -> None:
    """Returns when the client disconnects (the request body must have been read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _unless_disconnected(request: Request, awaitable: Awaitable[_T]) -> _T:
    """The result of `awaitable`; _ClientGone when the client disconnects first."""
    task = asyncio.ensure_future(awaitable)
    watcher = asyncio.ensure_future(_disconnection(request.receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if task.done() and not task.cancelled():
        return task.result()
    raise _ClientGone()


async def _whole_generation(job: GenerationJob) -> model_service.Generation:
    """Waits for the end of a started request; raises its error if it failed."""
    while True:
        event = await job.next_event()
        if isinstance(event, Finished):
            return event.generation
        if isinstance(event, Failed):
            raise event.error


class _JobStream(StreamingResponse):
    """A streamed answer that cancels its request however the response ends (done, client gone)."""

    def __init__(self, job: GenerationJob, content: AsyncIterator[bytes], media_type: str) -> None:
        super().__init__(content, media_type=media_type, headers={"Cache-Control": "no-cache"})
        self.job = job

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.job.cancel()


class _Endpoints:
    """The routes' handlers over one model service and its scheduler."""

    def __init__(self, service: model_service.ModelService, scheduler: GenerationScheduler,
                 max_request_bytes: int) -> None:
        self.service = service
        self.scheduler = scheduler
        self.max_request_bytes = max_request_bytes

    def routes(self) -> list[Route]:
        get, post = ["GET"], ["POST"]
        return [
            Route("/", self.root, methods=get),
            Route("/api/version", self.version, methods=get),
            Route("/api/tags", self.tags, methods=get),
            Route("/api/ps", self.running_models, methods=get),
            Route("/api/show", self.show, methods=post),
            Route("/api/generate", self._generation(serve_protocol.ollama_generate), methods=post),
            Route("/api/chat", self._generation(serve_protocol.ollama_chat), methods=post),
            Route("/v1/models", self.openai_models, methods=get),
            Route("/v1/models/{name:path}", self.openai_model, methods=get),
            Route("/v1/chat/completions", self._generation(serve_protocol.openai_chat), methods=post),
            Route("/v1/completions", self._generation(serve_protocol.openai_completion), methods=post),
        ]

    async def _json(self, request: Request) -> dict[str, Any]:
        return serve_protocol.parse_json_object(await read_body(request, self.max_request_bytes))

    # --- listings --------------------------------------------------------------------------------------

    @_answers_errors
    async def root(self, request: Request) -> Response:
        return PlainTextResponse("Ollama is running")

    @_answers_errors
    async def version(self, request: Request) -> Response:
        return JSONResponse({"version": SERVER_VERSION})

    @_answers_errors
    async def tags(self, request: Request) -> Response:
        return JSONResponse(serve_answers.tags(self.service))

    @_answers_errors
    async def running_models(self, request: Request) -> Response:
        return JSONResponse(serve_answers.running_models(self.service, self.scheduler.status()))

    @_answers_errors
    async def show(self, request: Request) -> Response:
        serve_protocol.show_model(await self._json(request), self.service)
        return JSONResponse(serve_answers.show(self.service))

    @_answers_errors
    async def openai_models(self, request: Request) -> Response:
        return JSONResponse(serve_answers.openai_models(self.service))

    @_answers_errors
    async def openai_model(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not self.service.serves(name):
            raise serve_protocol.ProtocolError(
                404, f"model {name!r} not found; this server serves {self.service.name!r}", "model_not_found")
        return JSONResponse(serve_answers.openai_model(self.service))

    # --- generation ------------------------------------------------------------------------------------

    def _generation(self, parse: Callable[[Any, model_service.ModelService],
                                          serve_protocol.AnswerRequest | dict[str, Any]]
                    ) -> Callable[[Request], Awaitable[Response]]:
        """The endpoint of one generating route: `parse` (serve_protocol.ollama_generate, ...) reads
        the body, then _answer runs and answers it."""

        @_answers_errors
        async def generate(endpoints: _Endpoints, request: Request) -> Response:
            received = time.monotonic()
            return await endpoints._answer(request, parse(await endpoints._json(request), endpoints.service),
                                           received)

        async def endpoint(request: Request) -> Response:  # a plain function, as Starlette expects
            return await generate(self, request)

        return endpoint

    async def _answer(self, request: Request, parsed: serve_protocol.AnswerRequest | dict[str, Any],
                      received: float) -> Response:
        """Runs a generation and answers it, streamed or whole; a ready answer (dict) as is."""
        if isinstance(parsed, dict):
            return JSONResponse(parsed)
        job = self.scheduler.submit(parsed.generation)
        try:
            first = await _unless_disconnected(request, job.next_event())
            if isinstance(first, Failed):
                raise first.error
            if parsed.stream:
                return _JobStream(job, self._stream(job, parsed.answer, received), parsed.answer.stream_media_type)
            generation = await _unless_disconnected(request, _whole_generation(job))
        except BaseException:
            job.cancel()
            raise
        return JSONResponse(parsed.answer.whole(generation, time.monotonic() - received))

    @staticmethod
    async def _stream(job: GenerationJob, answer: serve_answers.AnswerFormat, received: float) -> AsyncIterator[bytes]:
        """The streamed answer of a started request: each piece as it comes, then the end."""
        for line in answer.stream_start():
            yield line
        while True:
            event = await job.next_event()
            if isinstance(event, Piece):
                yield answer.stream_piece(event.text)
            elif isinstance(event, Finished):
                for line in answer.stream_end(event.generation, time.monotonic() - received):
                    yield line
                return
            elif isinstance(event, Failed):
                logger.error("a streamed generation failed", exc_info=event.error)
                yield answer.stream_error(GENERIC_FAILURE)
                return


def build_app(service: model_service.ModelService, scheduler: GenerationScheduler,
              max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES, allowed_hosts: Sequence[str] = (),
              allowed_origins: Sequence[str] = ()) -> ASGIApp:
    """The server's ASGI app: the routes behind the Host/Origin guard (passlib.serve_guard)."""
    endpoints = _Endpoints(service, scheduler, max_request_bytes)
    app = Starlette(routes=endpoints.routes(), exception_handlers={HTTPException: _routing_error})
    return HostOriginGuard(app, allowed_hosts, allowed_origins)
