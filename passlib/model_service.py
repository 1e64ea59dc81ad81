"""One compiled model bundle as a server exposes it: its names, its facts, and what a request means.

`ModelService.load` loads a bundle with `artifacts.runtime.load_bundle` (every file checked against
its sha256 first). `prepare` turns a request into what the runtime runs, with the semantics both
HTTP APIs share:

- greedy decoding unless a temperature above 0 is given; sampling always has a seed (0 by default),
  so every answer is reproducible;
- `max_new_tokens` None means the server's default, a negative value "until the context is full";
  either way it is cut to the room the bundle's KV cache has left after the prompt;
- generation ends at the bundle's stop tokens; stop strings end it where they first occur (a stop
  string that is a single token, such as a special token, is also a stop token).

Running the prepared generation is the job of passlib.generation_scheduler, which owns the runtime:
`prepare` also runs on its thread (it tokenizes), and nothing here holds a lock.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

from artifacts import bundle
from artifacts.runtime import LlmRuntime, load_bundle
from tokenizer_model.tokenizer import TokenizerInputError

DEFAULT_SAMPLING_SEED = 0
LATEST_TAG = "latest"
STOP = "stop"
LENGTH = "length"


class BadRequest(ValueError):
    """A request the model cannot serve as asked (HTTP 400); the message says what to change."""


class ModelLoadError(RuntimeError):
    """The bundle does not load; the message names the bundle and the fix."""


@dataclasses.dataclass(frozen=True)
class GenerationRequest:
    """What to generate and how. The prompt is `context` (token ids, each inside the vocabulary)
    followed by `messages` rendered with the bundle's chat template, or, without messages, by `text`
    used as is."""

    messages: Sequence[Mapping[str, str]] = ()
    text: str = ""
    context: Sequence[int] = ()
    max_new_tokens: int | None = None
    temperature: float = 0.0
    seed: int | None = None
    stop: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class PreparedGeneration:
    """A request in the runtime's terms: prompt ids, token limit, stop tokens and sampler."""

    prompt_ids: list[int]
    max_new_tokens: int
    stop_token_ids: list[int]
    temperature: float
    seed: int | None
    stop: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Generation:
    """A finished answer: its text, its tokens, why it ended, and what it cost (prefill, then the
    decode steps, which take turns with other requests' steps)."""

    text: str
    prompt_ids: list[int]
    output_ids: list[int]
    finish_reason: str
    prefill_s: float
    decode_s: float


def _timestamp(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


class ModelService:
    """A loaded bundle served under one model name. Its methods that touch the runtime (tokenizing,
    prepare) belong on the thread that owns the runtime."""

    def __init__(self, runtime: LlmRuntime, bundle_dir: pathlib.Path, name: str | None = None,
                 default_max_new_tokens: int = 1024) -> None:
        if default_max_new_tokens == 0:
            raise ValueError("the default number of new tokens must not be 0 (negative: until the context is full)")
        self.runtime = runtime
        self.bundle_dir = pathlib.Path(bundle_dir)
        self.name = name or runtime.manifest.bundle_name
        if ":" in self.name:
            raise ValueError(f"model name {self.name!r} must not contain ':' (the tag is always :{LATEST_TAG})")
        self.default_max_new_tokens = default_max_new_tokens
        manifest_path = self.bundle_dir / bundle.MANIFEST_NAME
        self.digest = hashlib.sha256(manifest_path.read_bytes()).hexdigest()
        self.modified_at = _timestamp(manifest_path.stat().st_mtime)
        self.size = sum(entry.size for entry in runtime.manifest.files.values())

    @classmethod
    def load(cls, bundle_dir: pathlib.Path, name: str | None = None, default_max_new_tokens: int = 1024,
             cache_pages: int | None = None) -> "ModelService":
        """Loads and verifies a bundle with `cache_pages` KV-cache pages (None: the runtime's default,
        one sequence of the full context); ModelLoadError naming the bundle and the fix when it fails."""
        bundle_dir = pathlib.Path(bundle_dir)
        try:
            runtime = load_bundle(bundle_dir, cache_pages=cache_pages)
        except bundle.BundleError as error:
            raise ModelLoadError(f"cannot load the model bundle {bundle_dir}: {error}") from None
        except Exception as error:  # iree.runtime and tokenizers raise their own types for bad files
            raise ModelLoadError(
                f"cannot load the model bundle {bundle_dir}: {type(error).__name__}: {error}. Fix: pass "
                "--model a bundle directory built by llm_artifacts for this machine's target "
                "(e.g. `bazel build //artifacts:smollm2_cpu`), or rebuild it"
            ) from None
        return cls(runtime, bundle_dir, name, default_max_new_tokens)

    @property
    def tagged_name(self) -> str:
        """The name with its tag, as Ollama lists models ("name:latest")."""
        return f"{self.name}:{LATEST_TAG}"

    def serves(self, model: str) -> bool:
        """Whether a request's model name means this model ("name" or "name:latest")."""
        return model in (self.name, self.tagged_name)

    @property
    def vocabulary_size(self) -> int:
        """Token ids run from 0 to this, exclusive."""
        return int(self.runtime.tokenizer.get_vocab_size(with_added_tokens=True))

    @property
    def capacity(self) -> int:
        """The most positions (prompt and answer) one request can use."""
        return int(self.runtime.capacity)

    def chat_prompt_ids(self, messages: Sequence[Mapping[str, Any]]) -> list[int]:
        """Token ids of a conversation rendered with the bundle's chat template (ready to answer)."""
        return self.runtime.encode_chat(
            [{"role": message["role"], "content": message["content"]} for message in messages])

    def raw_prompt_ids(self, text: str) -> list[int]:
        """Token ids of text used as is (no chat template; BOS if the checkpoint asks for it)."""
        return self.runtime.encode(text)

    def details(self) -> dict[str, Any]:
        """What the bundle says about the model, for listings."""
        return {
            "parent_model": "",
            "format": "iree-vmfb",
            "family": "",
            "families": None,
            "parameter_size": "",
            "quantization_level": "",
        }

    def model_info(self) -> dict[str, Any]:
        """Facts about the compiled model, for /api/show."""
        manifest = self.runtime.manifest
        return {
            "general.source_checkpoint": manifest.source.name,
            "general.source_checkpoint_sha256": manifest.source.sha256,
            "general.context_length": self.capacity,
            "general.block_count": self.runtime.model_config.transformer_block_count,
            "general.vocab_size": self.vocabulary_size,
            "iree.target": manifest.target,
            "iree.driver": manifest.driver,
            "iree.toolchain": dict(manifest.toolchain),
        }

    def chat_template(self) -> str:
        """The bundle's chat template (Jinja), or "" when it has none."""
        return self.runtime.generation.chat_template or ""

    def _token_limit(self, prompt_length: int, wanted: int | None) -> int:
        room = self.capacity - prompt_length
        if room <= 0:
            raise BadRequest(
                f"the prompt has {prompt_length} tokens, but model {self.name!r} holds {self.capacity} "
                "positions in all (prompt and answer); shorten the prompt")
        if wanted is None:
            wanted = self.default_max_new_tokens
        return room if wanted < 0 else min(wanted, room)

    def _stop_token_ids(self, stop: Sequence[str]) -> set[int]:
        ids = set(self.runtime.generation.stop_token_ids)
        for marker in stop:
            encoded = self.runtime.encode(marker, add_special_tokens=False) if marker else []
            if len(encoded) == 1:
                ids.add(encoded[0])
        return ids

    def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """The token ids of a request's prompt."""
        if request.messages:
            ids = self.chat_prompt_ids(request.messages)
        else:
            ids = self.raw_prompt_ids(request.text) if request.text else []
        return [int(token) for token in request.context] + ids

    def prepare(self, request: GenerationRequest) -> PreparedGeneration:
        """Tokenizes a request and settles its limits; BadRequest for what the model cannot serve
        (a prompt that is empty, too long for the context, or too long for the tokenizer)."""
        if request.temperature < 0:
            raise BadRequest(f"temperature must be 0 (greedy) or positive, got {request.temperature}")
        try:
            prompt_ids = self.prompt_ids(request)
            stop_token_ids = self._stop_token_ids(request.stop)
        except TokenizerInputError as error:
            raise BadRequest(str(error)) from None
        if not prompt_ids:
            raise BadRequest("the prompt is empty")
        seed = None
        if request.temperature > 0:
            seed = DEFAULT_SAMPLING_SEED if request.seed is None else request.seed
        return PreparedGeneration(
            prompt_ids=prompt_ids,
            max_new_tokens=self._token_limit(len(prompt_ids), request.max_new_tokens),
            stop_token_ids=sorted(stop_token_ids),
            temperature=request.temperature,
            seed=seed,
            stop=tuple(request.stop),
        )
