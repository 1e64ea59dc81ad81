"""Renders a checkpoint's Jinja chat template (e.g. ChatML) into a prompt string.

The template is rendered the way transformers' `apply_chat_template` renders it (a sandboxed Jinja
environment with trim_blocks/lstrip_blocks, `raise_exception`, a `tojson` that keeps non-ASCII text),
so the prompt text is the one the model was trained with.
"""

import json
from functools import lru_cache
from typing import Any, Callable, Mapping, Optional, Sequence

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment


class ChatTemplateError(ValueError):
    """The bundle has no chat template, or the template rejected the messages."""


def _raise_exception(message: str) -> None:
    raise ChatTemplateError(f"chat template: {message}")


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: Optional[int] = None,
    separators: Optional[tuple[str, str]] = None,
    sort_keys: bool = False,
) -> str:
    return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


@lru_cache(maxsize=8)
def _compile(template: str) -> jinja2.Template:
    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    environment.filters["tojson"] = _tojson
    environment.globals["raise_exception"] = _raise_exception
    return environment.from_string(template)


def render_chat_template(
    template: Optional[str],
    messages: Sequence[Mapping[str, Any]],
    *,
    add_generation_prompt: bool = True,
    special_tokens: Optional[Mapping[str, Optional[str]]] = None,
) -> str:
    """The prompt text for `messages` ([{"role": ..., "content": ...}, ...]).

    Args:
      template: the Jinja chat template from generation.json.
      messages: the conversation.
      add_generation_prompt: end with the header of an assistant turn, so the model answers.
      special_tokens: e.g. {"bos_token": "<s>", "eos_token": "</s>"}, visible to the template.
    """
    if not template:
        raise ChatTemplateError(
            "this bundle has no chat template (its checkpoint ships none); build the prompt text yourself "
            "and call encode()"
        )
    for index, message in enumerate(messages):
        if "role" not in message or "content" not in message:
            raise ChatTemplateError(f"message {index} needs 'role' and 'content', got keys {sorted(message)}")
    try:
        return _compile(template).render(
            messages=[dict(message) for message in messages],
            add_generation_prompt=add_generation_prompt,
            **dict(special_tokens or {}),
        )
    except jinja2.TemplateError as error:
        raise ChatTemplateError(f"chat template failed to render: {error}") from error


def render_model_chat(
    generation: Any,
    token_text: Callable[[int], Optional[str]],
    messages: Sequence[Mapping[str, Any]],
    *,
    add_generation_prompt: bool = True,
) -> str:
    """The prompt text for `messages` with a model's own template and special tokens.

    Args:
      generation: the model's GenerationConfig (generation.json): its chat_template and the ids of
        its bos, eos and pad tokens.
      token_text: the text of a token id (the tokenizer's id_to_token).
      messages: the conversation.
      add_generation_prompt: end with the header of an assistant turn, so the model answers.
    """

    def text_of(token_id: Optional[int]) -> Optional[str]:
        return None if token_id is None else token_text(token_id)

    return render_chat_template(
        generation.chat_template,
        messages,
        add_generation_prompt=add_generation_prompt,
        special_tokens={
            "bos_token": text_of(generation.bos_token_id),
            "eos_token": text_of(generation.eos_token_id),
            "pad_token": text_of(generation.pad_token_id),
        },
    )
