"""SentencePiece BPE models (`.model` protobuf files) as tables for the compiled module.

Supported: `model_type: BPE` with the identity normalization rule (Llama-2's tokenizer:
`normalizer_spec { name: "identity" }`, byte fallback), with or without the dummy prefix and
extra-whitespace removal. Not supported, and refused with a message: unigram / word / char
models, precompiled normalization rules (`nmt_nfkc` ...: they need SentencePiece's character
map trie), `treat_whitespace_as_suffix`, and UNUSED pieces (whose merges are undone afterwards).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tokenizer_model import sentencepiece_module as module
from tokenizer_model.sentencepiece_proto import ModelProto, ProtoError, parse_model
from tokenizer_model.tables import TokenizerSourceError, TokenizerTables, concatenated, pair_table, string_table

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
BPE_MODEL = 2
SPACE_SYMBOL = "\u2581"


def _fail(path: Path, message: str) -> TokenizerSourceError:
    return TokenizerSourceError(f"{path}: {message}")


def load_model_proto(path: Path) -> ModelProto:
    try:
        proto = parse_model(Path(path).read_bytes())
    except (OSError, ProtoError, UnicodeDecodeError) as error:
        raise _fail(path, f"not a readable SentencePiece model ({error})") from error
    if not proto.pieces or any(not piece.text for piece in proto.pieces):
        raise _fail(path, "not a SentencePiece model (no pieces, or an empty piece)")
    return proto


def from_sentencepiece(path: Path) -> TokenizerTables:
    path = Path(path)
    proto = load_model_proto(path)
    trainer, normalizer = proto.trainer, proto.normalizer
    if trainer.model_type != BPE_MODEL:
        raise _fail(path, f"model_type {trainer.model_type} is not BPE; only SentencePiece BPE is supported")
    if normalizer.precompiled_charsmap:
        raise _fail(path, f"normalization rule {normalizer.name!r} uses a precompiled character map; only "
                          "'identity' is supported (train with --normalization_rule_name=identity)")
    if proto.denormalizer is not None and proto.denormalizer.precompiled_charsmap:
        raise _fail(path, "denormalization rules are not supported")
    if trainer.treat_whitespace_as_suffix:
        raise _fail(path, "treat_whitespace_as_suffix is not supported")

    pieces = [(piece.text, piece.score, piece.type) for piece in proto.pieces]
    if any(kind == UNUSED for _, _, kind in pieces):
        raise _fail(path, "UNUSED pieces are not supported")
    normal: dict[str, int] = {}
    reserved: dict[str, int] = {}
    for index, (text, _, kind) in enumerate(pieces):
        (normal if kind in (NORMAL, USER_DEFINED) else reserved).setdefault(text, index)
    unknown_ids = [index for index, (_, _, kind) in enumerate(pieces) if kind == UNKNOWN]
    if len(unknown_ids) != 1:
        raise _fail(path, "the model must have exactly one unknown piece")

    # A character that is not a piece is an unknown symbol, but it can still merge into a piece
    # that contains it (a user-defined piece, say): such characters get ids past the vocabulary.
    token_count = len(pieces)
    unknown_characters = sorted({ch for text in normal for ch in text if ch not in normal and ch not in reserved})
    pseudo_ids = {ch: token_count + index for index, ch in enumerate(unknown_characters)}

    def symbol_id(text: str) -> int | None:
        """The id of a symbol with this text (PieceToId: reserved pieces first)."""
        if len(text) == 1 and text in reserved:
            return reserved[text]
        return normal.get(text, pseudo_ids.get(text))

    characters = sorted({ch for text in normal for ch in text} | {t for t in reserved if len(t) == 1})
    char_ids = {ord(ch): symbol_id(ch) for ch in characters}

    scores = sorted({score for text, score, kind in pieces if kind in (NORMAL, USER_DEFINED)}, reverse=True)
    rank_of = {score: rank for rank, score in enumerate(scores)}
    merges = []
    for text, index in normal.items():
        for split in range(1, len(text)):
            left, right = symbol_id(text[:split]), symbol_id(text[split:])
            if left is not None and right is not None:
                merges.append((left, right, rank_of[pieces[index][1]], index))
    pairs = pair_table(merges, token_count + len(pseudo_ids))

    byte_pieces = np.full(256, -1, dtype=np.int32)
    for index, (text, _, kind) in enumerate(pieces):
        if kind == BYTE:
            byte_pieces[int(text[3:5], 16)] = index
    if trainer.byte_fallback and (byte_pieces < 0).any():
        raise _fail(path, "byte_fallback is set but not all 256 <0xXX> pieces exist")

    unknown_surface = trainer.unk_surface
    surfaces: list[bytes] = []
    flags = np.zeros(token_count, dtype=np.uint8)
    for index, (text, _, kind) in enumerate(pieces):
        if kind == CONTROL:
            flags[index] |= module.TOKEN_FLAG_CONTROL
            surfaces.append(b"")
        elif kind == UNKNOWN:
            flags[index] |= module.TOKEN_FLAG_UNKNOWN
            surfaces.append(unknown_surface.encode("utf-8"))
        elif kind == BYTE:
            flags[index] |= module.TOKEN_FLAG_BYTE
            surfaces.append(bytes([int(text[3:5], 16)]))
        else:
            if text.startswith(SPACE_SYMBOL):
                flags[index] |= module.TOKEN_FLAG_LEADING_SPACE
            surfaces.append(text.replace(SPACE_SYMBOL, " ").encode("utf-8"))
    data, offsets = concatenated(surfaces)

    users = string_table({text.encode("utf-8"): index for index, (text, _, kind) in enumerate(pieces)
                          if kind == USER_DEFINED})
    # No merge crosses the left edge of a "▁" that follows another character when no piece has
    # a "▁" after another character: the kernel then merges word by word, and the host may cut
    # long input before such a space (if normalization is per character and "▁" is a piece, so
    # that runs of unknown characters are not split).
    split_at_spaces = normalizer.escape_whitespaces and not any(
        SPACE_SYMBOL in text.lstrip(SPACE_SYMBOL) for text in normal)
    chunkable = split_at_spaces and not normalizer.remove_extra_whitespaces and SPACE_SYMBOL in normal
    config = np.zeros(module.CONFIG_LENGTH, dtype=np.int32)
    config[module.CONFIG_VERSION] = module.FORMAT_VERSION
    config[module.CONFIG_ADD_DUMMY_PREFIX] = int(normalizer.add_dummy_prefix)
    config[module.CONFIG_REMOVE_EXTRA_WHITESPACES] = int(normalizer.remove_extra_whitespaces)
    config[module.CONFIG_ESCAPE_WHITESPACES] = int(normalizer.escape_whitespaces)
    config[module.CONFIG_BYTE_FALLBACK] = int(trainer.byte_fallback)
    config[module.CONFIG_UNKNOWN_ID] = unknown_ids[0]
    config[module.CONFIG_SPLIT_AT_SPACES] = int(split_at_spaces)
    char_keys = sorted(char_ids)
    arrays = {
        "config": config,
        "char_keys": np.array(char_keys or [0x7FFFFFFF], dtype=np.int32),
        "char_ids": np.array([char_ids[c] for c in char_keys] or [-1], dtype=np.int32),
        "user_data": users["data"], "user_offsets": users["offsets"], "user_ids": users["ids"],
        "user_first_byte": users["first_byte"],
        "merge_offsets": pairs["offsets"], "merge_right": pairs["right"],
        "merge_rank": pairs["rank"], "merge_result": pairs["result"],
        "byte_pieces": byte_pieces,
        "token_data": data, "token_offsets": offsets, "token_flags": flags,
    }

    def control_id(text: str) -> int | None:
        index = reserved.get(text)
        return index if index is not None and pieces[index][2] == CONTROL else None

    metadata = {
        "source": path.name,
        "source_format": "sentencepiece",
        "normalizer": normalizer.name or "identity",
        "token_count": token_count,
        "merge_count": len(merges),
        "added_tokens": [{"content": text, "id": index, "special": False}
                         for index, (text, _, kind) in enumerate(pieces) if kind == USER_DEFINED],
        "bos_token_id": control_id(trainer.bos_piece or "<s>"),
        "eos_token_id": control_id(trainer.eos_piece or "</s>"),
        "unknown_token_id": unknown_ids[0],
        "chunkable": bool(chunkable),
    }
    tables = TokenizerTables(module.ALGORITHM, arrays, metadata)
    tables.check(module.TABLES)
    return tables
