"""One compiled model bundle behind a lock: the generation that passlib's HTTP server exposes.

`ModelService.load` loads a bundle with `artifacts.runtime.load_bundle` (every file checked against
its sha256 first). `generate` runs one request at a time (the runtime holds one sequence in its KV
cache), with the semantics both HTTP APIs share:

- greedy decoding unless a temperature above 0 is given; sampling always has a seed (0 by default),
  so every answer is reproducible;
- `max_new_tokens` None means the server's default, a negative value "until the context is full";
  either way it is cut to the room the bundle's KV cache has left after the prompt;
- generation ends at the bundle's stop tokens; stop strings cut the text before their first
  occurrence (a stop string that is a single token also ends generation early).

The runtime returns the whole answer at once, so streaming splits the finished text at token
boundaries (`Generation.pieces`) instead of sending each token as it is decoded.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import pathlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from artifacts import bundle
from artifacts.runtime import LlmRuntime, load_bundle

DEFAULT_SAMPLING_SEED = 0
LATEST_TAG = "latest"
STOP = "stop"
LENGTH = "length"
_INCOMPLETE_CHARACTER = "\ufffd"


class BadRequest(ValueError):
    """A request the model cannot serve as asked (HTTP 400); the message says what to change."""


class ModelLoadError(RuntimeError):
    """The bundle does not load; the message names the bundle and the fix."""


@dataclasses.dataclass(frozen=True)
class GenerationRequest:
    """What to generate after a prompt (token ids) and how."""

    prompt_ids: Sequence[int]
    max_new_tokens: int | None = None
    temperature: float = 0.0
    seed: int | None = None
    stop: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class Generation:
    """An answer: its text, the same text split at token boundaries, and what it cost."""

    text: str
    pieces: list[str]
    prompt_ids: list[int]
    output_ids: list[int]
    finish_reason: str
    generate_s: float


def split_at_token_boundaries(decode: Callable[[Sequence[int]], str], ids: Sequence[int],
                              text: str) -> list[str]:
    """`text` (a prefix of the decoded `ids`) cut where each token's text ends, for streaming.

    Tokens that end inside a multi-byte character join the next piece. The pieces always join to
    `text`; if the tokenizer's output does not split cleanly, the whole text is one piece.
    """
    pieces: list[str] = []
    prefix_start = read_start = 0
    for end in range(1, len(ids) + 1):
        before = decode(ids[prefix_start:read_start])
        after = decode(ids[prefix_start:end])
        if len(after) > len(before) and not after.endswith(_INCOMPLETE_CHARACTER) and after.startswith(before):
            pieces.append(after[len(before):])
            prefix_start, read_start = read_start, end
    if not "".join(pieces).startswith(text):
        return [text] if text else []
    clipped: list[str] = []
    remaining = len(text)
    for piece in pieces:
        if remaining <= 0:
            break
        clipped.append(piece[:remaining])
        remaining -= len(clipped[-1])
    return clipped


def cut_at_stop_strings(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """`text` before the first occurrence of any stop string, and whether one occurred."""
    positions = [text.find(marker) for marker in stop if marker]
    positions = [position for position in positions if position >= 0]
    if not positions:
        return text, False
    return text[: min(positions)], True


def _timestamp(seconds: float) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


class ModelService:
    """A loaded bundle served under one model name; thread-safe (generation is serialized)."""

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
        self._lock = threading.Lock()

    @classmethod
    def load(cls, bundle_dir: pathlib.Path, name: str | None = None,
             default_max_new_tokens: int = 1024) -> "ModelService":
        """Loads and verifies a bundle; ModelLoadError naming the bundle and the fix when it fails."""
        bundle_dir = pathlib.Path(bundle_dir)
        try:
            runtime = load_bundle(bundle_dir)
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
            "general.vocab_size": self.runtime.tokenizer.get_vocab_size(with_added_tokens=True),
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

    def generate(self, request: GenerationRequest) -> Generation:
        """Runs one generation (waiting for any other to finish first)."""
        if request.temperature < 0:
            raise BadRequest(f"temperature must be 0 (greedy) or positive, got {request.temperature}")
        prompt_ids = [int(token) for token in request.prompt_ids]
        if not prompt_ids:
            raise BadRequest("the prompt is empty")
        limit = self._token_limit(len(prompt_ids), request.max_new_tokens)
        stop_ids = self._stop_token_ids(request.stop)
        seed = None
        if request.temperature > 0:
            seed = DEFAULT_SAMPLING_SEED if request.seed is None else request.seed
        with self._lock:
            started = time.monotonic()
            output_ids = list(self.runtime.generate(prompt_ids, limit, stop_token_ids=sorted(stop_ids),
                                                    seed=seed, temperature=request.temperature))
            finished = time.monotonic()
        full_text = self.runtime.decode(output_ids)
        text, stopped_by_string = cut_at_stop_strings(full_text, request.stop)
        stopped = stopped_by_string or bool(output_ids and output_ids[-1] in stop_ids)
        return Generation(
            text=text,
            pieces=split_at_token_boundaries(self.runtime.decode, output_ids, text),
            prompt_ids=prompt_ids,
            output_ids=output_ids,
            finish_reason=STOP if stopped or len(output_ids) < limit else LENGTH,
            generate_s=finished - started,
        )
