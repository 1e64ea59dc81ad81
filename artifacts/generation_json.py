"""The generation.json format of a bundle: what a runtime needs to build a prompt and to stop.

It holds the bos/eos/pad token ids, the stop token ids, whether encoding prepends BOS, the chat
template (Jinja, as the checkpoint ships it) and the model's context length. It is written by
`artifacts.generation_config` from a checkpoint and read by the runtime.
"""

import dataclasses
import json
from pathlib import Path
from typing import Any, Optional

from artifacts.atomic_write import write_text_atomic

GENERATION_FORMAT_VERSION = 1


class GenerationJsonError(ValueError):
    """generation.json is missing or malformed; the message names the file and the fix."""


@dataclasses.dataclass(frozen=True)
class GenerationConfig:
    """The contents of generation.json."""

    bos_token_id: Optional[int]
    eos_token_id: Optional[int]
    pad_token_id: Optional[int]
    stop_token_ids: tuple[int, ...]
    add_bos_token: bool
    chat_template: Optional[str]
    context_length: int

    def to_json(self) -> str:
        """Deterministic JSON text (sorted keys, trailing newline)."""
        document = dataclasses.asdict(self)
        document["stop_token_ids"] = list(self.stop_token_ids)
        document["format_version"] = GENERATION_FORMAT_VERSION
        return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def save(self, path: Path) -> None:
        """Writes generation.json atomically."""
        write_text_atomic(Path(path), self.to_json())

    @staticmethod
    def load(path: Path) -> "GenerationConfig":
        """Reads generation.json; raises GenerationJsonError naming the file when it is malformed."""
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            if document.get("format_version") != GENERATION_FORMAT_VERSION:
                raise ValueError(f"format_version {document.get('format_version')!r} != {GENERATION_FORMAT_VERSION}")
            return GenerationConfig(
                bos_token_id=optional_int(document["bos_token_id"]),
                eos_token_id=optional_int(document["eos_token_id"]),
                pad_token_id=optional_int(document["pad_token_id"]),
                stop_token_ids=tuple(int(token) for token in document["stop_token_ids"]),
                add_bos_token=bool(document["add_bos_token"]),
                chat_template=document["chat_template"],
                context_length=int(document["context_length"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            raise GenerationJsonError(
                f"{path}: not a valid generation.json ({error!r}). Fix: rebuild the bundle with `bazel build` "
                "on its llm_artifacts target."
            ) from error


def optional_int(value: Any) -> Optional[int]:
    """int(value), keeping None."""
    return None if value is None else int(value)
