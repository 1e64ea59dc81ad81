"""Answers of passlib's server in Ollama's and OpenAI's formats, no I/O.

An `AnswerFormat` writes one generation's answer, whole (a JSON object) or streamed: Ollama's
newline-delimited JSON (a line per piece, then a last line with `done` and the counts), OpenAI's
server-sent events (`data: {...}` per chunk, then `data: [DONE]`). The listings (/api/tags, /api/ps,
/api/show, /v1/models) and error bodies are here too.
"""

from __future__ import annotations

import datetime
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

from passlib import model_service

OWNER = "rules_iree_llm"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def _nanoseconds(seconds: float) -> int:
    return int(seconds * 1e9)


def json_bytes(payload: Mapping[str, Any]) -> bytes:
    """A JSON document as UTF-8 bytes."""
    return json.dumps(payload).encode("utf-8")


def error_payload(openai: bool, status: int, message: str, code: str | None) -> dict[str, Any]:
    """An error body: OpenAI's {"error": {message, type, param, code}} or Ollama's {"error": message}."""
    if not openai:
        return {"error": message}
    kind = "invalid_request_error" if status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _usage(generation: model_service.Generation) -> dict[str, int]:
    return {
        "prompt_tokens": len(generation.prompt_ids),
        "completion_tokens": len(generation.output_ids),
        "total_tokens": len(generation.prompt_ids) + len(generation.output_ids),
    }


class AnswerFormat:
    """How one generation is answered; `total_s` is the request's time from arrival to the end."""

    stream_media_type = "application/json"

    def stream_start(self) -> list[bytes]:
        """What a stream begins with, before the first piece."""
        return []

    def stream_piece(self, text: str) -> bytes:
        """One piece of the answer's text, streamed."""
        raise NotImplementedError

    def stream_end(self, generation: model_service.Generation, total_s: float) -> list[bytes]:
        """What a stream ends with."""
        raise NotImplementedError

    def stream_error(self, message: str) -> bytes:
        """An error after the stream began (the status line is long sent)."""
        raise NotImplementedError

    def whole(self, generation: model_service.Generation, total_s: float) -> dict[str, Any]:
        """The answer in one JSON object (not streamed)."""
        raise NotImplementedError


# --- Ollama -------------------------------------------------------------------------------------------


def ollama_load_answer(model: str, chat: bool) -> dict[str, Any]:
    """Ollama's answer to a request without a prompt: the model is loaded, nothing generated."""
    answer: dict[str, Any] = {"model": model, "created_at": _now(), "done": True, "done_reason": "load"}
    if chat:
        answer["message"] = {"role": "assistant", "content": ""}
    else:
        answer["response"] = ""
    return answer


class OllamaAnswer(AnswerFormat):
    """/api/generate (`response`, and `context` at the end) or /api/chat (`message`)."""

    stream_media_type = "application/x-ndjson"

    def __init__(self, model: str, chat: bool) -> None:
        self.model = model
        self.chat = chat

    def _part(self, text: str) -> dict[str, Any]:
        if self.chat:
            return {"model": self.model, "created_at": _now(),
                    "message": {"role": "assistant", "content": text}, "done": False}
        return {"model": self.model, "created_at": _now(), "response": text, "done": False}

    def stream_piece(self, text: str) -> bytes:
        return json_bytes(self._part(text)) + b"\n"

    def _final(self, text: str, generation: model_service.Generation, total_s: float) -> dict[str, Any]:
        final = self._part(text)
        final.update({
            "done": True,
            "done_reason": generation.finish_reason,
            "total_duration": _nanoseconds(total_s),
            "load_duration": 0,
            "prompt_eval_count": len(generation.prompt_ids),
            "prompt_eval_duration": _nanoseconds(generation.prefill_s),
            "eval_count": len(generation.output_ids),
            "eval_duration": _nanoseconds(generation.decode_s),
        })
        if not self.chat:
            final["context"] = generation.prompt_ids + generation.output_ids
        return final

    def stream_end(self, generation: model_service.Generation, total_s: float) -> list[bytes]:
        return [json_bytes(self._final("", generation, total_s)) + b"\n"]

    def stream_error(self, message: str) -> bytes:
        return json_bytes({"error": message}) + b"\n"

    def whole(self, generation: model_service.Generation, total_s: float) -> dict[str, Any]:
        return self._final(generation.text, generation, total_s)


# --- OpenAI -------------------------------------------------------------------------------------------


def _event(payload: Mapping[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return b"data: " + data.encode("utf-8") + b"\n\n"


class _OpenAIAnswer(AnswerFormat):
    """What OpenAI's chat and legacy completions share: ids, usage, the SSE framing."""

    stream_media_type = "text/event-stream"
    id_prefix = ""
    whole_object = ""
    chunk_object = ""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.identifier = f"{self.id_prefix}-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def _envelope(self, kind: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": self.identifier, "object": kind, "created": self.created, "model": self.model,
                "choices": choices}

    def _choice(self, text: str, finish_reason: str | None, whole: bool) -> dict[str, Any]:
        raise NotImplementedError

    def stream_piece(self, text: str) -> bytes:
        return _event(self._envelope(self.chunk_object, [self._choice(text, None, whole=False)]))

    def stream_end(self, generation: model_service.Generation, total_s: float) -> list[bytes]:
        events = [_event(self._envelope(self.chunk_object, [self._choice("", generation.finish_reason, whole=False)]))]
        if self.include_usage:
            events.append(_event(dict(self._envelope(self.chunk_object, []), usage=_usage(generation))))
        events.append(_event("[DONE]"))
        return events

    def stream_error(self, message: str) -> bytes:
        return _event(error_payload(True, 500, message, "server_error"))

    def whole(self, generation: model_service.Generation, total_s: float) -> dict[str, Any]:
        choice = self._choice(generation.text, generation.finish_reason, whole=True)
        answer = self._envelope(self.whole_object, [choice])
        answer["usage"] = _usage(generation)
        return answer


class OpenAIChatAnswer(_OpenAIAnswer):
    """/v1/chat/completions: `chat.completion`, streamed as `chat.completion.chunk` deltas."""

    id_prefix = "chatcmpl"
    whole_object = "chat.completion"
    chunk_object = "chat.completion.chunk"

    def stream_start(self) -> list[bytes]:
        choice = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None, "finish_reason": None}
        return [_event(self._envelope(self.chunk_object, [choice]))]

    def _choice(self, text: str, finish_reason: str | None, whole: bool) -> dict[str, Any]:
        if whole:
            return {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None,
                    "finish_reason": finish_reason}
        return {"index": 0, "delta": {"content": text} if text else {}, "logprobs": None,
                "finish_reason": finish_reason}


class OpenAICompletionAnswer(_OpenAIAnswer):
    """/v1/completions: `text_completion`, streamed as `text_completion` chunks."""

    id_prefix = "cmpl"
    whole_object = "text_completion"
    chunk_object = "text_completion"

    def _choice(self, text: str, finish_reason: str | None, whole: bool) -> dict[str, Any]:
        return {"index": 0, "text": text, "logprobs": None, "finish_reason": finish_reason}


# --- listings -----------------------------------------------------------------------------------------


def _model_entry(service: model_service.ModelService) -> dict[str, Any]:
    return {
        "name": service.tagged_name,
        "model": service.tagged_name,
        "modified_at": service.modified_at,
        "size": service.size,
        "digest": service.digest,
        "details": service.details(),
    }


def tags(service: model_service.ModelService) -> dict[str, Any]:
    """GET /api/tags."""
    return {"models": [_model_entry(service)]}


def running_models(service: model_service.ModelService, scheduler_status: Mapping[str, int]) -> dict[str, Any]:
    """GET /api/ps: Ollama's fields, and the scheduler's queue and KV-cache pages."""
    entry = _model_entry(service)
    del entry["modified_at"]
    entry.update(expires_at="9999-12-31T23:59:59Z", size_vram=0, context_length=service.capacity)
    entry.update(scheduler_status)
    return {"models": [entry]}


def show(service: model_service.ModelService) -> dict[str, Any]:
    """POST /api/show."""
    return {
        "modelfile": f"# served by passlib from the bundle {service.bundle_dir}\nFROM {service.tagged_name}\n",
        "parameters": f"num_ctx {service.capacity}",
        "template": service.chat_template(),
        "details": service.details(),
        "model_info": service.model_info(),
        "capabilities": ["completion"],
        "modified_at": service.modified_at,
    }


def openai_model(service: model_service.ModelService) -> dict[str, Any]:
    """GET /v1/models/NAME."""
    created = int(datetime.datetime.fromisoformat(service.modified_at.replace("Z", "+00:00")).timestamp())
    return {"id": service.name, "object": "model", "created": created, "owned_by": OWNER}


def openai_models(service: model_service.ModelService) -> dict[str, Any]:
    """GET /v1/models."""
    return {"object": "list", "data": [openai_model(service)]}
