"""Training pairs as token sequences: the model's chat prompt, then the answer the loss is taken on.

A pair (passlib.training_data.records) is rendered with the model's own chat template and tokenizer
(the GGUF's, as artifacts.generation_config reads them for the bundle), so the text is token for
token what the in-process backend feeds the bundle at build time: the prompt with the assistant
header (`add_generation_prompt`), then the answer and the template's end of turn. Only the answer
tokens (and the end of turn, which teaches the model to stop) carry loss.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from tokenizers import Tokenizer

from artifacts.chat_template import render_model_chat
from artifacts.generation_json import GenerationConfig
from passlib import prompts, transform, unit_prompts
from passlib.training_data.records import TrainingPair

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ChatExample:
    """Token ids of prompt + answer; `answer_start` is the index of the first answer token."""

    name: str
    ids: tuple[int, ...]
    answer_start: int

    @property
    def answer_tokens(self) -> int:
        return len(self.ids) - self.answer_start


class ChatEncoder:
    """Renders conversations with a model's chat template and tokenizes them."""

    def __init__(self, tokenizer: Tokenizer, generation: GenerationConfig) -> None:
        self.tokenizer = tokenizer
        self.generation = generation

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def _encode_chat(self, messages: Sequence[dict], add_generation_prompt: bool) -> list[int]:
        text = render_model_chat(self.generation, self.tokenizer.id_to_token, messages,
                                 add_generation_prompt=add_generation_prompt)
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def encode_turn(self, messages: Sequence[dict], answer: str) -> tuple[list[int], int]:
        """(ids of the prompt and the answer turn, index of the first answer token).

        ValueError when the template renders the prompt differently once the answer is there (the
        prompt would not be a prefix of the training text)."""
        prompt_ids = self._encode_chat(messages, add_generation_prompt=True)
        full_ids = self._encode_chat(list(messages) + [{"role": "assistant", "content": answer}],
                                     add_generation_prompt=False)
        if full_ids[: len(prompt_ids)] != prompt_ids:
            raise ValueError("the chat template renders the prompt differently when the answer follows it")
        # The template's text after the end-of-turn token (e.g. ChatML's newline) is never generated.
        end = len(full_ids)
        stops = set(self.generation.stop_token_ids)
        for index in range(len(prompt_ids), len(full_ids)):
            if full_ids[index] in stops:
                end = index + 1
                break
        return full_ids[:end], len(prompt_ids)


def prompt_budget(context_length: int, max_new_tokens: int) -> int:
    """The prompt budget `llm_transform` uses for a model of this context and an answer limit."""
    return unit_prompts.prompt_budget(transform.TransformOptions().context_tokens, context_length, max_new_tokens)


def chat_examples(pairs: Sequence[TrainingPair], encoder: ChatEncoder, *, max_length: int,
                  max_new_tokens: int) -> list[ChatExample]:
    """The pairs as token sequences, in order, built for llm_transform's prompt budget with answers of
    at most `max_new_tokens`; pairs longer than `max_length` tokens (prompt + answer) are left out."""
    budget = prompt_budget(encoder.generation.context_length, max_new_tokens)
    examples, skipped = [], 0
    for pair in pairs:
        try:
            prompt = pair.prompt(encoder.count_tokens, budget)
        except prompts.PromptTooLarge:
            skipped += 1
            continue
        ids, answer_start = encoder.encode_turn(prompt.messages(), pair.answer())
        if len(ids) > max_length or len(ids) - answer_start > max_new_tokens:
            skipped += 1
            continue
        examples.append(ChatExample(pair.name, tuple(ids), answer_start))
    if skipped:
        _log.info("%d of %d pairs do not fit in %d tokens and are left out", skipped, len(pairs), max_length)
    return examples
