"""Writes a bundle's generation.json and tokenizer.json from a checkpoint (GGUF or Hugging Face dir).

generation.json (format: artifacts.generation_json) holds bos/eos/pad/stop token ids, whether
encoding prepends BOS, the chat template and the context length.

From a GGUF file the facts come from its metadata (`tokenizer.ggml.*`, `tokenizer.chat_template`,
`<arch>.context_length`) and tokenizer.json is the `tokenizers` tokenizer that transformers builds from
the same metadata (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`). Note: for SmolLM2 that
tokenizer uses the generic GPT-2 pre-tokenizer, not the `smollm` split the GGUF declares (see
ENVIRONMENT.md); it is the tokenizer of the transformers reference the parity tests compare against.

From a Hugging Face directory tokenizer.json is copied byte for byte and the facts come from
generation_config.json, config.json, tokenizer_config.json (and chat_template.jinja when present).

Command line (what the Bazel action runs):

    python -m artifacts.generation_config (--gguf FILE | --hf-dir DIR) \
        --output-generation OUT/generation.json --output-tokenizer OUT/tokenizer.json
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from artifacts.atomic_write import write_bytes_atomic
from artifacts.generation_json import GenerationConfig, optional_int
from export.errors import CheckpointError
from export.gguf_header import check_gguf_header

# Special tokens that close a turn in common chat templates; when the template uses one, generation
# stops at it (e.g. ChatML's <|im_end|> even where the checkpoint's eos is <|endoftext|>).
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|eom_id|>", "<|end|>", "<end_of_turn>")

# Keys of config.json that hold the context length, in order of preference.
_CONTEXT_LENGTH_KEYS = ("max_position_embeddings", "max_sequence_length", "n_positions", "seq_length")


class CheckpointMetadataError(Exception):
    """A checkpoint lacks a fact generation.json needs; the message names the file and the fix."""


def _stop_token_ids(
    eos_token_ids: Sequence[int], chat_template: Optional[str], token_to_id: Mapping[str, int]
) -> tuple[int, ...]:
    """The eos ids plus the end-of-turn tokens that the chat template uses, sorted and unique."""
    stop = set(eos_token_ids)
    for marker in END_OF_TURN_TOKENS:
        if chat_template and marker in chat_template and marker in token_to_id:
            stop.add(token_to_id[marker])
    return tuple(sorted(stop))


def _added_token_ids(tokenizer_json: str) -> dict[str, int]:
    """content -> id of the added (special) tokens of a tokenizer.json."""
    document = json.loads(tokenizer_json)
    return {token["content"]: int(token["id"]) for token in document.get("added_tokens", [])}


# --- GGUF -------------------------------------------------------------------------------------------


def _gguf_metadata(path: Path) -> dict[str, Any]:
    """The GGUF key/value metadata as Python values, without the large token/merge arrays."""
    from gguf import GGUFReader

    try:
        check_gguf_header(path)  # bounded sizes and UTF-8 strings, which GGUFReader trusts
    except CheckpointError as error:
        raise CheckpointMetadataError(str(error)) from error
    skipped = {"tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.ggml.scores"}
    reader = GGUFReader(str(path))
    return {key: field.contents() for key, field in reader.fields.items() if key not in skipped}


def _gguf_tokenizer_json(path: Path) -> str:
    """The `tokenizers` JSON that transformers builds from the GGUF's tokenizer metadata."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    if not tokenizer.is_fast:
        raise CheckpointMetadataError(f"{path}: transformers could not build a fast tokenizer from this GGUF.")
    return tokenizer.backend_tokenizer.to_str()


def from_gguf(path: Path) -> tuple[GenerationConfig, str]:
    """generation.json contents and tokenizer.json text for a GGUF checkpoint."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointMetadataError(f"{path}: GGUF checkpoint does not exist.")
    metadata = _gguf_metadata(path)
    architecture = metadata.get("general.architecture")
    context_key = f"{architecture}.context_length"
    if context_key not in metadata:
        raise CheckpointMetadataError(
            f"{path}: GGUF metadata has no {context_key!r}; re-convert the checkpoint with llama.cpp's "
            "convert_hf_to_gguf.py, which writes it."
        )
    tokenizer_json = _gguf_tokenizer_json(path)
    chat_template = metadata.get("tokenizer.chat_template")
    eos_token_id = optional_int(metadata.get("tokenizer.ggml.eos_token_id"))
    end_ids = [
        int(metadata[key])
        for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id")
        if key in metadata
    ]
    # llama.cpp's default when the key is absent: SentencePiece ("llama") tokenizers prepend BOS.
    add_bos_token = bool(metadata.get("tokenizer.ggml.add_bos_token", metadata.get("tokenizer.ggml.model") == "llama"))
    config = GenerationConfig(
        bos_token_id=optional_int(metadata.get("tokenizer.ggml.bos_token_id")),
        eos_token_id=eos_token_id,
        pad_token_id=optional_int(metadata.get("tokenizer.ggml.padding_token_id")),
        stop_token_ids=_stop_token_ids(end_ids, chat_template, _added_token_ids(tokenizer_json)),
        add_bos_token=add_bos_token,
        chat_template=chat_template,
        context_length=int(metadata[context_key]),
    )
    return config, tokenizer_json


# --- Hugging Face directory -------------------------------------------------------------------------


def _read_json_if_present(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise CheckpointMetadataError(f"{path}: not valid JSON ({error}).") from error


def _token_id_list(value: Any) -> list[int]:
    if value is None:
        return []
    if isinstance(value, list):
        return [int(token) for token in value]
    return [int(value)]


def _token_content(value: Any) -> Optional[str]:
    """tokenizer_config.json writes special tokens as a string or as {"content": ...}."""
    if isinstance(value, dict):
        return value.get("content")
    return value


def _hf_chat_template(directory: Path, tokenizer_config: Mapping[str, Any]) -> Optional[str]:
    template_file = directory / "chat_template.jinja"
    if template_file.is_file():
        return template_file.read_text(encoding="utf-8")
    template = tokenizer_config.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}, ...]
        named = {entry["name"]: entry["template"] for entry in template}
        return named.get("default")
    return template


def from_hf_directory(directory: Path) -> tuple[GenerationConfig, bytes]:
    """generation.json contents and tokenizer.json bytes for a Hugging Face checkpoint directory."""
    directory = Path(directory)
    tokenizer_path = directory / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise CheckpointMetadataError(
            f"{tokenizer_path}: missing. The bundle needs a `tokenizers` tokenizer.json; save one from the "
            "model's fast tokenizer (`AutoTokenizer.from_pretrained(dir).save_pretrained(dir)`)."
        )
    tokenizer_bytes = tokenizer_path.read_bytes()
    token_to_id = _added_token_ids(tokenizer_bytes.decode("utf-8"))
    model_config = _read_json_if_present(directory / "config.json")
    generation = _read_json_if_present(directory / "generation_config.json")
    tokenizer_config = _read_json_if_present(directory / "tokenizer_config.json")

    context_length = next((model_config[key] for key in _CONTEXT_LENGTH_KEYS if key in model_config), None)
    if context_length is None:
        raise CheckpointMetadataError(
            f"{directory / 'config.json'}: no context length (one of {', '.join(_CONTEXT_LENGTH_KEYS)}); "
            "the checkpoint directory needs the model's config.json."
        )

    def special_id(field: str) -> list[int]:
        """Ids of a special token: generation_config.json, then config.json, then tokenizer_config.json."""
        for source in (generation, model_config):
            if source.get(field) is not None:
                return _token_id_list(source[field])
        content = _token_content(tokenizer_config.get(field.removesuffix("_id")))
        if content is not None and content in token_to_id:
            return [token_to_id[content]]
        return []

    eos_ids = special_id("eos_token_id")
    bos_ids = special_id("bos_token_id")
    pad_ids = special_id("pad_token_id")
    chat_template = _hf_chat_template(directory, tokenizer_config)
    config = GenerationConfig(
        bos_token_id=bos_ids[0] if bos_ids else None,
        eos_token_id=eos_ids[0] if eos_ids else None,
        pad_token_id=pad_ids[0] if pad_ids else None,
        stop_token_ids=_stop_token_ids(eos_ids, chat_template, token_to_id),
        add_bos_token=bool(tokenizer_config.get("add_bos_token", False)),
        chat_template=chat_template,
        context_length=int(context_length),
    )
    return config, tokenizer_bytes


# --- command line -----------------------------------------------------------------------------------


def main(argv: Sequence[str]) -> int:
    """Command-line entry point; returns the process exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m artifacts.generation_config", description=__doc__.split("\n")[0]
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--gguf", type=Path, help="a GGUF checkpoint file")
    source.add_argument("--hf-dir", type=Path, help="a Hugging Face checkpoint directory")
    parser.add_argument("--output-generation", type=Path, required=True, help="where to write generation.json")
    parser.add_argument("--output-tokenizer", type=Path, required=True, help="where to write tokenizer.json")
    args = parser.parse_args(argv)
    try:
        if args.gguf is not None:
            config, tokenizer_text = from_gguf(args.gguf)
            tokenizer_bytes = tokenizer_text.encode("utf-8")
        else:
            config, tokenizer_bytes = from_hf_directory(args.hf_dir)
        write_bytes_atomic(args.output_tokenizer, tokenizer_bytes)
        config.save(args.output_generation)
        return 0
    except (CheckpointMetadataError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
