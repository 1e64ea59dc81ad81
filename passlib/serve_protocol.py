"""Requests to passlib's server, read and checked: Ollama's and OpenAI's APIs, no I/O.

`parse_json_object` reads a request body under limits (nesting depth, integer digits, no NaN or
Infinity, no lone surrogates in any string). The request readers (`ollama_generate`, `ollama_chat`,
`openai_chat`, `openai_completion`, `show_model`) turn a body into what to generate and how to
answer it, or raise ProtocolError with the HTTP status and a one-line reason. Every client mistake
is a 4xx here: wrong types, negative or non-finite numbers, token ids outside the vocabulary,
features the model lacks.

Differences from Ollama and OpenAI, on purpose: decoding is greedy unless a temperature above 0 is
given (Ollama defaults to 0.8, OpenAI to 1.0), sampling without a seed uses seed 0, and an answer
without a length limit stops after the server's default number of tokens (Ollama's -1 means "until
the context is full"). Options the runtime has no use for (top_k, top_p, num_ctx, penalties, ...) and
the requested output `format` are accepted and ignored: the answer is not constrained to JSON.
Requests that need what the model lacks (images, tools, thinking, suffix, echo, logprobs, a template
of its own, more than one choice) get 400.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any, Protocol

from passlib import model_service, serve_answers

MAX_JSON_DEPTH = 64
MAX_INTEGER_DIGITS = 20
MAX_SEED = 2**64 - 1
MAX_STOP_STRINGS = 16
MAX_STOP_STRING_CHARACTERS = 1000
_CHAT_ROLES = ("system", "user", "assistant", "tool")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class ProtocolError(Exception):
    """An error answer: HTTP status, one-line message, OpenAI's error code, extra headers."""

    def __init__(self, status: int, message: str, code: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        self.status = status
        self.message = message
        self.code = code
        self.headers = dict(headers or {})
        super().__init__(message)


def bad_request(message: str) -> ProtocolError:
    """A 400 answer (OpenAI code "invalid_request")."""
    return ProtocolError(400, message, "invalid_request")


class ServedModel(Protocol):
    """What request checks need to know about the model served (passlib.model_service.ModelService)."""

    name: str

    @property
    def tagged_name(self) -> str: ...

    @property
    def vocabulary_size(self) -> int: ...

    def serves(self, model: str) -> bool: ...


@dataclasses.dataclass(frozen=True)
class AnswerRequest:
    """A request that generates: what to generate, whether to stream, and the answer's format."""

    generation: model_service.GenerationRequest
    stream: bool
    answer: serve_answers.AnswerFormat


# --- JSON ---------------------------------------------------------------------------------------------


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer has {len(digits.lstrip('-'))} digits; at most {MAX_INTEGER_DIGITS} are read")
    return int(digits)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _check_tree(value: Any) -> None:
    """Depth and string rules over a parsed JSON value (iteratively: no recursion limit to hit)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                raise ValueError("a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text")
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"JSON is nested deeper than {MAX_JSON_DEPTH} levels")
            children = list(item.items()) if isinstance(item, dict) else item
            for child in children:
                if isinstance(child, tuple):
                    pending.append((child[0], depth))
                    pending.append((child[1], depth + 1))
                else:
                    pending.append((child, depth + 1))


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The JSON object of a request body ({} for an empty body); 400 for anything else."""
    try:
        body = json.loads(raw or b"{}", parse_constant=_refuse_constant, parse_int=_bounded_int,
                          parse_float=_finite_float)
        _check_tree(body)
    except RecursionError:
        raise bad_request(f"the request body is not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise bad_request(f"the request body is not valid JSON: {reason}") from None
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    return body


# --- fields -------------------------------------------------------------------------------------------


def _type_words(kinds: tuple[type, ...]) -> str:
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "an object"}
    if kinds == (int, float):
        return "a number"
    return " or ".join(names.get(kind, kind.__name__) for kind in kinds)


def field(body: Mapping[str, Any], name: str, kinds: type | tuple[type, ...], default: Any = None) -> Any:
    """body[name] if present and of the given type(s), `default` if absent or null; 400 otherwise."""
    value = body.get(name)
    if value is None:
        return default
    allowed = kinds if isinstance(kinds, tuple) else (kinds,)
    # JSON true/false are Python bools, which are also ints: accept them only where bool is allowed.
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise bad_request(f"{name!r} must be {_type_words(allowed)}, got {json.dumps(value)[:80]}")
    return value


def _temperature(body: Mapping[str, Any]) -> float:
    value = float(field(body, "temperature", (int, float), 0.0))
    if value < 0:
        raise bad_request(f"'temperature' must be 0 (greedy) or positive, got {value}")
    return value


def _seed(body: Mapping[str, Any]) -> int | None:
    value = field(body, "seed", int)
    if value is not None and not 0 <= value <= MAX_SEED:
        raise bad_request(f"'seed' must be between 0 and 2**64-1, got {value}")
    return value


def _stop_strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    strings = [value] if isinstance(value, str) else value
    if not isinstance(strings, list) or not all(isinstance(item, str) for item in strings):
        raise bad_request(f"{where} must be a string or a list of strings")
    if len(strings) > MAX_STOP_STRINGS or any(len(item) > MAX_STOP_STRING_CHARACTERS for item in strings):
        raise bad_request(f"{where} takes at most {MAX_STOP_STRINGS} strings of at most "
                          f"{MAX_STOP_STRING_CHARACTERS} characters")
    return tuple(strings)


def _token_ids(value: list[Any], name: str, served: ServedModel) -> list[int]:
    for token in value:
        if not isinstance(token, int) or isinstance(token, bool):
            raise bad_request(f"{name!r} must be a list of token ids (integers)")
        if not 0 <= token < served.vocabulary_size:
            raise bad_request(f"{name!r} holds the token id {token}, outside the vocabulary "
                              f"[0, {served.vocabulary_size})")
    return list(value)


def model_name(body: Mapping[str, Any], served: ServedModel, name: str = "model") -> str:
    """The model a request names; 400 when it names none, 404 when it names another."""
    model = field(body, name, str, "")
    if not model:
        raise bad_request(f"{name!r} is required (this server serves {served.name!r})")
    if not served.serves(model):
        raise ProtocolError(404, f"model {model!r} not found; this server serves {served.name!r}",
                            "model_not_found")
    return model


def _refuse_unsupported(body: Mapping[str, Any], served: ServedModel) -> None:
    """400 for request features this model cannot honour."""
    if body.get("images"):
        raise bad_request(f"{served.tagged_name} does not support images")
    if body.get("tools"):
        raise bad_request(f"{served.tagged_name} does not support tools")
    if body.get("think") not in (None, False):
        raise bad_request(f"{served.tagged_name} does not support thinking")
    if body.get("suffix"):
        raise bad_request(f"{served.tagged_name} does not support insert (suffix)")
    if body.get("template"):
        raise bad_request("a request template is not supported: the bundle's chat template is used")


def _messages(body: Mapping[str, Any], openai: bool) -> list[dict[str, str]]:
    """The chat messages of a request; with `openai`, also OpenAI's "developer" role and text parts."""
    messages = field(body, "messages", list, [])
    checked = []
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            raise bad_request(f"messages[{index}] must be an object with 'role' and 'content'")
        role = message.get("role")
        if role == "developer" and openai:
            role = "system"
        if role not in _CHAT_ROLES:
            raise bad_request(f"messages[{index}].role must be one of {', '.join(_CHAT_ROLES)}, "
                              f"got {json.dumps(role)[:40]}")
        if message.get("images"):
            raise bad_request("this model does not support images")
        content = message.get("content")
        if content is None:
            content = ""
        if openai and isinstance(content, list):
            content = _text_parts(content, index)
        if not isinstance(content, str):
            raise bad_request(f"messages[{index}].content must be a string")
        checked.append({"role": role, "content": content})
    return checked


def _text_parts(parts: list[Any], index: int) -> str:
    texts = []
    for part in parts:
        if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            raise bad_request(f"messages[{index}].content: only text parts are supported")
        texts.append(part["text"])
    return "\n".join(texts)


# --- Ollama -------------------------------------------------------------------------------------------


def _ollama_options(body: Mapping[str, Any]) -> dict[str, Any]:
    options = field(body, "options", dict, {})
    num_predict = field(options, "num_predict", int)
    if num_predict is not None and num_predict < -1:
        raise bad_request(f"'num_predict' must be -1 (until the context is full) or more, got {num_predict}")
    return {
        "temperature": _temperature(options),
        "seed": _seed(options),
        "max_new_tokens": num_predict,
        "stop": _stop_strings(options.get("stop"), "options.stop"),
    }


def ollama_generate(body: Mapping[str, Any], served: ServedModel) -> AnswerRequest | dict[str, Any]:
    """POST /api/generate: what to generate, or (no prompt and no context) the "load" answer."""
    model = model_name(body, served)
    _refuse_unsupported(body, served)
    prompt = field(body, "prompt", str, "")
    system = field(body, "system", str)
    context = _token_ids(field(body, "context", list, []), "context", served)
    stream = field(body, "stream", bool, True)
    options = _ollama_options(body)
    if not prompt and not context:
        return serve_answers.ollama_load_answer(model, chat=False)
    if field(body, "raw", bool, False):
        generation = model_service.GenerationRequest(text=prompt, context=context, **options)
    else:
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}]
        generation = model_service.GenerationRequest(messages=messages, context=context, **options)
    return AnswerRequest(generation, stream, serve_answers.OllamaAnswer(model, chat=False))


def ollama_chat(body: Mapping[str, Any], served: ServedModel) -> AnswerRequest | dict[str, Any]:
    """POST /api/chat: what to generate, or (no messages) the "load" answer."""
    model = model_name(body, served)
    _refuse_unsupported(body, served)
    messages = _messages(body, openai=False)
    stream = field(body, "stream", bool, True)
    options = _ollama_options(body)
    if not messages:
        return serve_answers.ollama_load_answer(model, chat=True)
    generation = model_service.GenerationRequest(messages=messages, **options)
    return AnswerRequest(generation, stream, serve_answers.OllamaAnswer(model, chat=True))


def show_model(body: Mapping[str, Any], served: ServedModel) -> str:
    """POST /api/show: the model named (Ollama also accepts the older field "name")."""
    return model_name(body, served, "name" if body.get("name") and not body.get("model") else "model")


# --- OpenAI -------------------------------------------------------------------------------------------


def _openai_common(body: Mapping[str, Any], served: ServedModel, *length_fields: str) -> dict[str, Any]:
    """The fields chat and legacy completions share: one choice, length, sampling, stop, stream."""
    if field(body, "n", int, 1) != 1:
        raise bad_request("'n' must be 1: this server returns one choice")
    max_tokens = None
    for name in length_fields:
        max_tokens = field(body, name, int) if max_tokens is None else max_tokens
    if max_tokens is not None and max_tokens < 1:
        raise bad_request(f"'max_tokens' must be at least 1, got {max_tokens}")
    if body.get("logprobs") not in (None, False, 0):
        raise bad_request("'logprobs' is not supported")
    stream_options = field(body, "stream_options", dict, {})
    return {
        "model": model_name(body, served),
        "stream": field(body, "stream", bool, False),
        "include_usage": field(stream_options, "include_usage", bool, False),
        "options": {"max_new_tokens": max_tokens, "temperature": _temperature(body), "seed": _seed(body),
                    "stop": _stop_strings(body.get("stop"), "'stop'")},
    }


def openai_chat(body: Mapping[str, Any], served: ServedModel) -> AnswerRequest:
    """POST /v1/chat/completions."""
    common = _openai_common(body, served, "max_completion_tokens", "max_tokens")
    if body.get("tools"):
        raise bad_request(f"{served.name} does not support tools")
    messages = _messages(body, openai=True)
    if not messages:
        raise bad_request("'messages' must hold at least one message")
    generation = model_service.GenerationRequest(messages=messages, **common["options"])
    answer = serve_answers.OpenAIChatAnswer(common["model"], common["include_usage"])
    return AnswerRequest(generation, common["stream"], answer)


def openai_completion(body: Mapping[str, Any], served: ServedModel) -> AnswerRequest:
    """POST /v1/completions (OpenAI's legacy completions): a prompt string (or one-string list, or
    token ids) continued as is, without the chat template."""
    common = _openai_common(body, served, "max_tokens")
    if field(body, "best_of", int, 1) != 1:
        raise bad_request("'best_of' must be 1: this server returns one choice")
    if field(body, "echo", bool, False):
        raise bad_request("'echo' is not supported")
    if body.get("suffix"):
        raise bad_request(f"{served.name} does not support insert (suffix)")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if isinstance(prompt, str) and prompt:
        generation = model_service.GenerationRequest(text=prompt, **common["options"])
    elif isinstance(prompt, list) and prompt and not any(isinstance(item, (str, list)) for item in prompt):
        generation = model_service.GenerationRequest(context=_token_ids(prompt, "prompt", served),
                                                     **common["options"])
    else:
        raise bad_request("'prompt' must be a non-empty string, a list of one string, or a list of token ids")
    answer = serve_answers.OpenAICompletionAnswer(common["model"], common["include_usage"])
    return AnswerRequest(generation, common["stream"], answer)
