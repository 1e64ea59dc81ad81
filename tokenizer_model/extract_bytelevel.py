"""Byte-level BPE tokenizers from HF `tokenizer.json` or GGUF metadata, as tables for the compiled module.

Which behaviour a GGUF file gets. SmolLM2's GGUF declares `tokenizer.ggml.pre = smollm`: every
`\\p{N}` character is its own pre-token, and the GPT-2 pattern splits the text between them.
That is the split SmolLM2 was trained with (its original `tokenizer.json` is
`Sequence[Digits(individual_digits), ByteLevel]`) and the one llama.cpp, the runtime GGUF files
are made for, implements. transformers' GGUF conversion ignores the declared pre-tokenizer and
falls back to plain GPT-2 (so it splits `" 1999"` differently) and maps bytes missing from the
vocabulary to id 0. We reproduce the declared pre-tokenizer, so the tests compare against HF
`tokenizers` configured like SmolLM2's original `tokenizer.json` (Digits + ByteLevel, no unknown
token) and loaded from the GGUF's own vocabulary and merges. Bytes without a token in the
vocabulary are dropped, as both llama.cpp and HF `tokenizers` (without `unk_token`) do; like HF,
their neighbours may then merge (llama.cpp keeps the gap). Control and user-defined tokens are
matched whole (llama.cpp's `parse_special = true`); decode keeps control tokens unless asked to
skip them. Merge ranks: llama.cpp keeps the first of duplicate merges, HF `tokenizers` the last.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from export.errors import CheckpointError
from export.gguf_header import check_gguf_header
from tokenizer_model import bytelevel_module as module
from tokenizer_model.tables import (
    TokenizerSourceError,
    TokenizerTables,
    codepoint_flags,
    concatenated,
    nfc_tables,
    pair_table,
    string_table,
)

QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
LLAMA3_PATTERN = QWEN2_PATTERN.replace(r"|\p{N}|", r"|\p{N}{1,3}|")
GGUF_PRE_TOKENIZERS = {"smollm": True, "gpt-2": False, "gpt2": False}  # name -> digits isolated
GGUF_CONTROL, GGUF_USER_DEFINED = 3, 4


@dataclasses.dataclass(frozen=True)
class AddedToken:
    content: str
    id: int
    special: bool  # skipped by decode(skip_special_tokens=True)


@dataclasses.dataclass
class ByteLevelBpeSource:
    """A byte-level BPE tokenizer as read from its file, before it is laid out in tables."""

    path: Path
    source_format: str
    vocabulary: dict[str, int]
    merges: list[tuple[str, str]]
    keep_first_duplicate_merge: bool
    added_tokens: list[AddedToken]
    pattern: int
    isolate_digits: bool
    digit_group: int
    normalizer: int
    unknown_id: int | None
    bos_token_id: int | None
    eos_token_id: int | None
    pre_tokenizer_name: str


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte-level alphabet: printable Latin-1 bytes stand for themselves, others for U+0100...."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    mapping = {byte: chr(byte) for byte in printable}
    shifted = 0
    for byte in range(256):
        if byte not in mapping:
            mapping[byte] = chr(256 + shifted)
            shifted += 1
    return mapping


# The largest tokenizer.json of current open models is about 35 MB (Gemma 3's); a bigger file is not
# read into memory.
MAX_TOKENIZER_JSON_BYTES = 64 << 20


def _fail(path: Path, message: str) -> TokenizerSourceError:
    return TokenizerSourceError(f"{path}: {message}")


def _pre_tokenizer(path: Path, spec: dict | None) -> tuple[int, bool, int, str]:
    """(pattern, isolate_digits, digit_group, name) of a supported `tokenizer.json` pre-tokenizer."""

    def byte_level(item: dict, use_regex: bool) -> bool:
        return (item.get("type") == "ByteLevel" and not item.get("add_prefix_space", False)
                and item.get("use_regex", True) == use_regex)

    if spec and byte_level(spec, True):
        return module.PATTERN_GPT2, False, 1, "gpt2"
    parts = spec.get("pretokenizers", []) if spec and spec.get("type") == "Sequence" else []
    if len(parts) == 2 and parts[0].get("type") == "Digits" and parts[0].get("individual_digits") \
            and byte_level(parts[1], True):
        return module.PATTERN_GPT2, True, 1, "smollm"
    if len(parts) == 2 and parts[0].get("type") == "Split" and byte_level(parts[1], False) \
            and parts[0].get("behavior") == "Isolated" and not parts[0].get("invert", False):
        regex = parts[0].get("pattern", {}).get("Regex")
        if regex == QWEN2_PATTERN:
            return module.PATTERN_QWEN2, False, 1, "qwen2"
        if regex == LLAMA3_PATTERN:
            return module.PATTERN_QWEN2, False, 3, "llama3"
    raise _fail(path, f"unsupported pre_tokenizer {json.dumps(spec)[:300]}; supported: ByteLevel (GPT-2 regex), "
                      "Sequence[Digits(individual_digits), ByteLevel] (SmolLM2), "
                      "Sequence[Split(Qwen2 or Llama-3 regex, Isolated), ByteLevel(use_regex=false)]")


def _normalizer(path: Path, spec: dict | None) -> int:
    if spec is None:
        return module.NORMALIZER_NONE
    if spec.get("type") == "NFC":
        return module.NORMALIZER_NFC
    raise _fail(path, f"unsupported normalizer {json.dumps(spec)[:200]}; supported: none, NFC")


def _read_json_file(path: Path, what: str) -> dict:
    """A JSON object from `path`, read only when it is at most MAX_TOKENIZER_JSON_BYTES."""
    try:
        size = path.stat().st_size
        if size > MAX_TOKENIZER_JSON_BYTES:
            raise _fail(path, f"{what} is {size} bytes, over the {MAX_TOKENIZER_JSON_BYTES} read "
                              "(MAX_TOKENIZER_JSON_BYTES); this is not a tokenizer file")
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise _fail(path, f"cannot read {what} ({reason}); copy the file from the model again") from error
    if not isinstance(value, dict):
        raise _fail(path, f"{what} holds a JSON {type(value).__name__}, not an object")
    return value


def from_tokenizer_json(path: Path) -> ByteLevelBpeSource:
    path = Path(path)
    spec = _read_json_file(path, "tokenizer.json")
    try:
        return _from_tokenizer_spec(path, spec)
    except TokenizerSourceError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise _fail(path, f"malformed tokenizer.json ({type(error).__name__}: {error}); "
                          "copy the file from the model again") from error


def _from_tokenizer_spec(path: Path, spec: dict) -> ByteLevelBpeSource:
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        raise _fail(path, f"model type {model.get('type')!r} is not BPE")
    for field, allowed in (("continuing_subword_prefix", ("", None)), ("end_of_word_suffix", ("", None)),
                           ("byte_fallback", (False, None)), ("dropout", (None,)),
                           ("ignore_merges", (False, None))):
        if model.get(field) not in allowed:
            raise _fail(path, f"BPE option {field}={model.get(field)!r} is not supported")
    if (spec.get("decoder") or {}).get("type") != "ByteLevel":
        raise _fail(path, "the decoder must be ByteLevel (this is not a byte-level BPE tokenizer)")
    post_processor = spec.get("post_processor")
    if post_processor is not None and post_processor.get("type") != "ByteLevel":
        raise _fail(path, f"post_processor {post_processor.get('type')} adds tokens; only ByteLevel is supported")
    pattern, isolate_digits, digit_group, name = _pre_tokenizer(path, spec.get("pre_tokenizer"))
    normalizer = _normalizer(path, spec.get("normalizer"))
    vocabulary = dict(model["vocab"])
    merges = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
    added: list[AddedToken] = []
    for token in spec.get("added_tokens", []):
        if token.get("lstrip") or token.get("rstrip") or token.get("single_word"):
            raise _fail(path, f"added token {token['content']!r} uses lstrip/rstrip/single_word (unsupported)")
        if token.get("normalized") and normalizer != module.NORMALIZER_NONE:
            raise _fail(path, f"added token {token['content']!r} is matched after normalization (unsupported)")
        added.append(AddedToken(token["content"], int(token["id"]), bool(token.get("special"))))
    unknown = model.get("unk_token")
    if unknown is not None and model.get("fuse_unk"):
        raise _fail(path, "fuse_unk with an unk_token is not supported")
    bos, eos = _special_ids_from_config(path.parent / "tokenizer_config.json", vocabulary, added)
    return ByteLevelBpeSource(
        path, "tokenizer.json", vocabulary, merges, False, added, pattern, isolate_digits, digit_group,
        normalizer, vocabulary.get(unknown) if unknown is not None else None, bos, eos, name)


def _special_ids_from_config(config_path: Path, vocabulary: dict[str, int],
                             added: list[AddedToken]) -> tuple[int | None, int | None]:
    """BOS/EOS ids from a sibling tokenizer_config.json, when there is one."""
    if not config_path.is_file():
        return None, None
    config = _read_json_file(config_path, "tokenizer_config.json")
    by_content = dict(vocabulary, **{token.content: token.id for token in added})

    def token_id(field: str) -> int | None:
        value = config.get(field)
        content = value.get("content") if isinstance(value, dict) else value
        return by_content.get(content) if content is not None else None

    return token_id("bos_token"), token_id("eos_token")


def from_gguf(path: Path) -> ByteLevelBpeSource:
    import gguf

    path = Path(path)
    try:
        check_gguf_header(path)  # bounded sizes and UTF-8 strings, which GGUFReader trusts
    except CheckpointError as error:
        raise TokenizerSourceError(str(error)) from error
    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as error:  # gguf raises several exception types for a corrupt file
        raise _fail(path, f"cannot read GGUF metadata ({error})") from error

    def field(name: str, required: bool = True):
        item = reader.fields.get(name)
        if item is None:
            if required:
                raise _fail(path, f"GGUF metadata has no {name}")
            return None
        return item.contents()

    model = field("tokenizer.ggml.model")
    if model != "gpt2":
        raise _fail(path, f"tokenizer.ggml.model = {model!r}; only 'gpt2' (byte-level BPE) GGUF tokenizers are "
                          "supported (for SentencePiece, build from the .model file)")
    pre = field("tokenizer.ggml.pre", required=False) or "gpt-2"
    if pre not in GGUF_PRE_TOKENIZERS:
        raise _fail(path, f"tokenizer.ggml.pre = {pre!r} is not supported; supported: {sorted(GGUF_PRE_TOKENIZERS)}")
    tokens = field("tokenizer.ggml.tokens")
    types = field("tokenizer.ggml.token_type", required=False) or [1] * len(tokens)
    if len(types) != len(tokens):
        raise _fail(path, f"tokenizer.ggml.token_type has {len(types)} entries for {len(tokens)} tokens")
    merges = [tuple(merge.split(" ", 1)) for merge in field("tokenizer.ggml.merges")]
    vocabulary = {token: index for index, token in enumerate(tokens)}
    added = [AddedToken(token, index, types[index] == GGUF_CONTROL) for index, token in enumerate(tokens)
             if types[index] in (GGUF_CONTROL, GGUF_USER_DEFINED)]
    bos, eos = field("tokenizer.ggml.bos_token_id", False), field("tokenizer.ggml.eos_token_id", False)
    return ByteLevelBpeSource(
        path, "gguf", vocabulary, merges, True, added, module.PATTERN_GPT2, GGUF_PRE_TOKENIZERS[pre], 1,
        module.NORMALIZER_NONE, None, None if bos is None else int(bos), None if eos is None else int(eos), pre)


def token_bytes(token: str, alphabet: dict[str, int]) -> bytes:
    """What HF's ByteLevel decoder makes of a token: alphabet characters map back to their bytes;
    a token with any other character is kept as its own UTF-8."""
    if all(ch in alphabet for ch in token):
        return bytes(alphabet[ch] for ch in token)
    return token.encode("utf-8")


def build_tables(source: ByteLevelBpeSource) -> TokenizerTables:
    path = source.path
    byte_alphabet = bytes_to_unicode()
    alphabet = {ch: byte for byte, ch in byte_alphabet.items()}
    names: dict[int, str] = {index: token for token, index in source.vocabulary.items()}
    names.update({token.id: token.content for token in source.added_tokens})
    token_count = max(names) + 1

    merges: dict[tuple[int, int], tuple[int, int]] = {}
    for rank, (left, right) in enumerate(source.merges):
        try:
            key = (source.vocabulary[left], source.vocabulary[right])
            result = source.vocabulary[left + right]
        except KeyError as error:
            raise _fail(path, f"merge {left!r} {right!r} (rank {rank}) uses a token missing from the "
                              f"vocabulary: {error}") from None
        if source.keep_first_duplicate_merge and key in merges:
            continue
        merges[key] = (rank, result)
    pairs = pair_table(((l, r, rank, result) for (l, r), (rank, result) in merges.items()), token_count)

    byte_to_token = np.full(256, -1, dtype=np.int32)
    for byte, ch in byte_alphabet.items():
        if ch in source.vocabulary:
            byte_to_token[byte] = source.vocabulary[ch]
        elif source.unknown_id is not None:
            byte_to_token[byte] = source.unknown_id
    specials = string_table({token.content.encode("utf-8"): token.id for token in source.added_tokens})
    data, offsets = concatenated([token_bytes(names[i], alphabet) if i in names else b""
                                  for i in range(token_count)])
    flags = np.zeros(token_count, dtype=np.uint8)
    for token in source.added_tokens:
        if token.special:
            flags[token.id] |= module.TOKEN_FLAG_SPECIAL

    config = np.zeros(module.CONFIG_LENGTH, dtype=np.int32)
    config[module.CONFIG_VERSION] = module.FORMAT_VERSION
    config[module.CONFIG_PATTERN] = source.pattern
    config[module.CONFIG_ISOLATE_DIGITS] = int(source.isolate_digits)
    config[module.CONFIG_NORMALIZER] = source.normalizer
    config[module.CONFIG_DIGIT_GROUP] = source.digit_group
    arrays = {
        "config": config,
        "codepoint_flags": codepoint_flags(),
        "byte_to_token": byte_to_token,
        "merge_offsets": pairs["offsets"], "merge_right": pairs["right"],
        "merge_rank": pairs["rank"], "merge_result": pairs["result"],
        "special_data": specials["data"], "special_offsets": specials["offsets"],
        "special_ids": specials["ids"], "special_first_byte": specials["first_byte"],
        **nfc_tables(),
        "token_data": data, "token_offsets": offsets, "token_flags": flags,
    }
    metadata = {
        "source": path.name,
        "source_format": source.source_format,
        "pre_tokenizer": source.pre_tokenizer_name,
        "normalizer": "nfc" if source.normalizer == module.NORMALIZER_NFC else "none",
        "token_count": token_count,
        "merge_count": len(merges),
        "added_tokens": [dataclasses.asdict(token) for token in sorted(source.added_tokens, key=lambda t: t.id)],
        "bos_token_id": source.bos_token_id,
        "eos_token_id": source.eos_token_id,
        "missing_bytes": [byte for byte in range(256) if byte_to_token[byte] < 0],
    }
    tables = TokenizerTables(module.ALGORITHM, arrays, metadata)
    tables.check(module.TABLES)
    return tables
