"""Host wrapper around a compiled tokenizer: `CompiledTokenizer.load(vmfb, irpa)`, `encode`, `decode`.

What runs where. The compiled module does the tokenization: special-token matching, UTF-8
decoding, NFC, the pre-tokenizer split, the byte/vocabulary look-ups and the merge loop (encode),
and the id-to-bytes look-up with SentencePiece's whitespace and byte-fallback rules (decode).
The host only converts `str` to UTF-8 bytes and back (`bytes.decode` with replacement of malformed
sequences, the same rule as Rust's `from_utf8_lossy` in HF `tokenizers`; SentencePiece output is
already valid UTF-8), loads the tables from the IRPA file into the module once, and splits very
long inputs into chunks at boundaries where the split cannot change the result (see
`safe_split_points`), calling the module once per chunk.

The module accepts any input length (its shapes are dynamic): there is no compile-time maximum.
Chunking bounds the scratch memory of one call, which grows linearly with the input (about 240
bytes per input byte: 16 MB for the default chunk of 64 KiB). A text without a safe split point
(or for a tokenizer that cannot be chunked) goes to the module whole, so the host bounds each call
instead: at most MAX_ENCODE_BYTES of text per `encode` (about 240 MB of scratch at worst) and
MAX_DECODE_IDS ids per `decode`; beyond them `TokenizerInputError` says so.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from tokenizer_model import sentencepiece_module
from tokenizer_model.algorithms import MODULES
from tokenizer_model.tables import TokenizerSourceError, TokenizerTables, read_irpa

DEFAULT_MAX_CHUNK_BYTES = 1 << 16
# The most UTF-8 bytes one encode call takes: 16 default chunks, far beyond any model's context
# (32k tokens are about 150 KB of text), and about 240 MB of scratch if the text cannot be split.
MAX_ENCODE_BYTES = 1 << 20
# The most token ids one decode call takes (its output is at most that many tokens' bytes).
MAX_DECODE_IDS = 1 << 20
# Byte-level BPE: "<letter>\n<letter>" -- the newline is a word of its own under every supported
# pattern, whether or not the text continues, and no merge or NFC composition crosses it.
_BYTELEVEL_BOUNDARY = re.compile(rb"(?<=[A-Za-z]\n)(?=[A-Za-z])")
# SentencePiece: before a space that follows and precedes a non-space, when no piece has "▁"
# after its first character (checked at build time): no merge can cross that space's left edge.
_SENTENCEPIECE_BOUNDARY = re.compile(rb"(?<=[^ \n])(?= [^ ])")


class TokenizerInputError(ValueError):
    """Text or ids beyond what one encode or decode call takes; the message names the limit and
    the fix."""


@dataclasses.dataclass(frozen=True)
class SpecialToken:
    """An added token, matched whole by encode; decode(skip_special_tokens=True) drops `special` ones."""

    content: str
    id: int
    special: bool


class CompiledTokenizer:
    """A tokenizer compiled by IREE (VMFB) with its tables (IRPA)."""

    def __init__(self, functions, tables: TokenizerTables, max_chunk_bytes: int) -> None:
        self._functions = functions
        self.algorithm = tables.algorithm
        self.metadata = tables.metadata
        self.max_chunk_bytes = max_chunk_bytes
        self.token_count: int = tables.metadata["token_count"]
        self.bos_token_id: int | None = tables.metadata.get("bos_token_id")
        self.eos_token_id: int | None = tables.metadata.get("eos_token_id")
        self.added_tokens = [SpecialToken(t["content"], t["id"], t["special"])
                             for t in tables.metadata.get("added_tokens", [])]
        self._chunkable = bool(tables.metadata.get("chunkable", True)) and not any(
            "\n" in token.content or " " in token.content for token in self.added_tokens)

    @classmethod
    def load(cls, vmfb: Path | str, irpa: Path | str, *, driver: str = "local-sync",
             max_chunk_bytes: int = DEFAULT_MAX_CHUNK_BYTES) -> "CompiledTokenizer":
        from iree import runtime

        tables = read_irpa(Path(irpa))
        module = MODULES.get(tables.algorithm)
        if module is None:
            raise TokenizerSourceError(f"{irpa}: unknown tokenizer algorithm {tables.algorithm!r}")
        config = runtime.Config(driver)
        context = runtime.SystemContext(config=config)
        try:
            # VmModule.mmap opens the file for writing, which fails on read-only files (Bazel's
            # outputs and runfiles); the module is small, so it is read instead.
            vm_module = runtime.VmModule.copy_buffer(config.vm_instance, Path(vmfb).read_bytes())
        except Exception as error:
            raise TokenizerSourceError(f"{vmfb}: cannot load the compiled tokenizer ({error}); compile the "
                                       "MLIR from `python -m tokenizer_model.build` with iree-compile") from error
        context.add_vm_module(vm_module)
        functions = getattr(context.modules, module.MODULE_NAME, None)
        if functions is None:
            raise TokenizerSourceError(
                f"{vmfb} does not contain module {module.MODULE_NAME!r} for the {tables.algorithm} tables in {irpa}")
        tables.check(module.TABLES)
        arenas = module.LAYOUT.pack(tables.arrays)
        functions.load_tables(*[_as_signless(arenas[element]) for element in module.LAYOUT.elements])
        return cls(functions, tables, max_chunk_bytes)

    def special_token_id(self, content: str) -> int:
        """The id of an added / special token such as `<|im_end|>` (KeyError if there is none)."""
        for token in self.added_tokens:
            if token.content == content:
                return token.id
        raise KeyError(f"{content!r} is not an added token of this tokenizer")

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (no BOS/EOS is added); TokenizerInputError beyond MAX_ENCODE_BYTES."""
        data = _bounded_utf8(text)
        ids: list[int] = []
        for index, chunk in enumerate(self._chunks(data)):
            ids.extend(self._encode_chunk(chunk, continuation=index > 0))
        return ids

    def _encode_chunk(self, data: bytes, continuation: bool) -> list[int]:
        array = np.frombuffer(data, dtype=np.int8) if data else np.zeros(0, dtype=np.int8)
        if self.algorithm == sentencepiece_module.ALGORITHM:
            result = self._functions.encode(array, int(continuation))
        else:
            result = self._functions.encode(array)
        return result.to_host().astype(np.int64).tolist()

    def _chunks(self, data: bytes) -> Iterable[bytes]:
        if len(data) <= self.max_chunk_bytes or not self._chunkable:
            yield data
            return
        start = 0
        for point in safe_split_points(data, self.algorithm, self.max_chunk_bytes):
            yield data[start:point]
            start = point
        yield data[start:]

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = False) -> str:
        """The text of `ids`; `skip_special_tokens` drops special tokens (byte-level BPE only).
        TokenizerInputError beyond MAX_DECODE_IDS ids."""
        if len(ids) > MAX_DECODE_IDS:
            raise TokenizerInputError(
                f"decode takes at most {MAX_DECODE_IDS} token ids per call (MAX_DECODE_IDS), got "
                f"{len(ids)}. Fix: decode the ids in pieces and join the texts.")
        array = np.asarray(ids, dtype=np.int64)
        if self.algorithm == sentencepiece_module.ALGORITHM and array.size and (
                array.min() < 0 or array.max() >= self.token_count):
            bad = array[(array < 0) | (array >= self.token_count)][0]
            raise IndexError(f"token id {bad} is out of range [0, {self.token_count})")
        # Ids outside the vocabulary decode to nothing; clipping keeps them outside in 32 bits.
        clipped = np.clip(array, -1, self.token_count).astype(np.int32)
        data = self._functions.decode(clipped, int(skip_special_tokens)).to_host()
        return data.tobytes().decode("utf-8", errors="replace")


def _bounded_utf8(text: str) -> bytes:
    """The UTF-8 bytes of `text`; TokenizerInputError when they exceed MAX_ENCODE_BYTES (checked on
    the character count first, a lower bound, so that a huge text is not copied to be refused)."""
    if len(text) > MAX_ENCODE_BYTES:
        raise _text_too_long(f"{len(text)} characters")
    data = text.encode("utf-8")
    if len(data) > MAX_ENCODE_BYTES:
        raise _text_too_long(f"{len(data)} bytes")
    return data


def _text_too_long(size: str) -> TokenizerInputError:
    return TokenizerInputError(
        f"encode takes at most {MAX_ENCODE_BYTES} bytes of UTF-8 text per call (MAX_ENCODE_BYTES), "
        f"got {size}. Fix: encode the text in pieces, e.g. its paragraphs, and join the ids.")


def _as_signless(array: np.ndarray) -> np.ndarray:
    """i8 tables are stored as uint8 and passed to the module as signless bytes."""
    return array.view(np.int8) if array.dtype == np.uint8 else array


def safe_split_points(data: bytes, algorithm: str, max_chunk_bytes: int) -> list[int]:
    """Byte offsets where `data` can be cut into chunks of at most about `max_chunk_bytes` each
    such that tokenizing the chunks separately gives the same ids. A chunk with no safe point is
    left longer than the limit rather than cut unsafely."""
    pattern = _SENTENCEPIECE_BOUNDARY if algorithm == sentencepiece_module.ALGORITHM else _BYTELEVEL_BOUNDARY
    points: list[int] = []
    start = 0
    candidates = [match.start() for match in pattern.finditer(data)]
    best = None
    for candidate in candidates:
        if candidate - start > max_chunk_bytes and best is not None:
            points.append(best)
            start = best
        if candidate > start:
            best = candidate
    if len(data) - start > max_chunk_bytes and best is not None and best > start:
        points.append(best)
    return points
