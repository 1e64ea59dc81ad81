"""Unicode tables for the compiled tokenizer, measured from the reference implementation.

A tokenizer's pre-tokenizer regex (`\\p{L}`, `\\p{N}`, `\\s`) and its NFC normalizer are defined by
the library that runs `tokenizer.json`: HF `tokenizers`. Its regex engine (Oniguruma) follows
Unicode 16, its NFC tables an older Unicode (marks added since Unicode 11 have combining class 0
there), while Python 3.11's `unicodedata` is Unicode 14. Tables taken from `unicodedata` would
disagree with the reference on about 9,300 letters, 120 digits and 100 combining marks. So the
tables are measured from the pinned `tokenizers` package itself, by running its regex and its
normalizers over every code point; `unicodedata` only proposes candidates (which characters have
a non-zero combining class, which pairs compose) that the reference then confirms or rejects.

Measuring takes several seconds, so the result is committed as `unicode_tables.json` and builds
read that file; `python -m tokenizer_model.unicode_data` rewrites it, and a test checks that it
still equals a fresh measurement.

Per code point the kernels use one byte of flags (`CodepointFlag`); NFC additionally needs the
full canonical decomposition of each decomposable character, the combining class of each
non-starter, and the primary composite of each composable pair (Hangul is algorithmic and left
to the kernels).
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import functools
import json
import os
import tempfile
import unicodedata
from pathlib import Path

import numpy as np

CODEPOINT_COUNT = 0x110000
SURROGATES = range(0xD800, 0xE000)
HANGUL_SYLLABLES = range(0xAC00, 0xAC00 + 11172)
TABLES_PATH = Path(__file__).with_name("unicode_tables.json")
_SEPARATOR = "\x00"


class CodepointFlag(enum.IntFlag):
    LETTER = 1  # \p{L}
    NUMBER = 2  # \p{N}
    WHITESPACE = 4  # \s
    HAS_DECOMPOSITION = 8  # NFD differs from the character itself (Hangul excluded)
    NONZERO_COMBINING_CLASS = 16
    COMPOSES_AS_SECOND = 32  # second element of a composable pair


@dataclasses.dataclass(frozen=True)
class UnicodeTables:
    """Character classes and NFC data as the reference implements them."""

    reference: str
    letters: tuple[int, ...]
    numbers: tuple[int, ...]
    whitespace: tuple[int, ...]
    decompositions: dict[int, tuple[int, ...]]
    combining_classes: dict[int, int]
    compositions: dict[tuple[int, int], int]

    def flags(self) -> np.ndarray:
        """uint8[0x110000] of `CodepointFlag` bits."""
        flags = np.zeros(CODEPOINT_COUNT, dtype=np.uint8)
        for members, flag in ((self.letters, CodepointFlag.LETTER), (self.numbers, CodepointFlag.NUMBER),
                              (self.whitespace, CodepointFlag.WHITESPACE),
                              (tuple(self.decompositions), CodepointFlag.HAS_DECOMPOSITION),
                              (tuple(self.combining_classes), CodepointFlag.NONZERO_COMBINING_CLASS),
                              (tuple(sorted({s for _, s in self.compositions})), CodepointFlag.COMPOSES_AS_SECOND)):
            flags[np.array(members, dtype=np.int64)] |= np.uint8(flag)
        return flags


# ----- measuring the reference ------------------------------------------------------------------


def _codepoints(start: int = 0) -> list[int]:
    return [c for c in range(start, CODEPOINT_COUNT) if c not in SURROGATES]


def _regex_members(pattern: str) -> tuple[int, ...]:
    """Code points matched by a one-character class: all code points minus the pieces that
    splitting them with the class (matches removed) leaves."""
    from tokenizers import Regex, pre_tokenizers

    codepoints = np.array(_codepoints(), dtype=np.int64)
    text = "".join(map(chr, codepoints.tolist()))
    matched = np.ones(len(codepoints), dtype=bool)
    for _, (start, end) in pre_tokenizers.Split(Regex(pattern + "+"), "removed").pre_tokenize_str(text):
        matched[start:end] = False
    return tuple(int(c) for c in codepoints[matched])


def _normalize_each(normalizer_name: str, items: list[str]) -> list[str]:
    from tokenizers import normalizers

    normalizer = getattr(normalizers, normalizer_name)()
    result = normalizer.normalize_str(_SEPARATOR.join(items)).split(_SEPARATOR)
    if len(result) != len(items):
        raise RuntimeError(f"probing {normalizer_name}: separator was not preserved")
    return result


def _check_digits_pretokenizer(numbers: tuple[int, ...]) -> None:
    """The `Digits` pre-tokenizer (Rust `char::is_numeric`) must agree with `\\p{N}`."""
    from tokenizers import pre_tokenizers

    text = "".join("a" + chr(c) for c in _codepoints(1))
    pieces = pre_tokenizers.Digits(individual_digits=True).pre_tokenize_str(text)
    isolated = {ord(piece) for piece, _ in pieces if len(piece) == 1 and piece != "a"}
    if isolated != set(numbers):
        raise RuntimeError(f"tokenizers' Digits pre-tokenizer and \\p{{N}} disagree on "
                           f"{len(isolated ^ set(numbers))} code points")


def _hangul_decomposition(codepoint: int) -> tuple[int, ...]:
    index = codepoint - 0xAC00
    lead, vowel, trail = 0x1100 + index // 588, 0x1161 + (index % 588) // 28, index % 28
    return (lead, vowel) if trail == 0 else (lead, vowel, 0x11A7 + trail)


def measure_reference() -> UnicodeTables:
    """Measures the tables from the installed `tokenizers` (several seconds)."""
    import tokenizers

    numbers = _regex_members(r"\p{N}")
    _check_digits_pretokenizer(numbers)
    codepoints = _codepoints(1)
    decomposed = _normalize_each("NFD", [chr(c) for c in codepoints])
    decompositions = {c: tuple(map(ord, text)) for c, text in zip(codepoints, decomposed)
                      if text != chr(c) and c not in HANGUL_SYLLABLES}
    for c in (0xAC00, 0xAC01, 0xD7A3):
        if tuple(map(ord, _normalize_each("NFD", [chr(c)])[0])) != _hangul_decomposition(c):
            raise RuntimeError("reference NFD of Hangul syllables is not the algorithmic one")

    # Combining classes never change once assigned, so the reference's non-starters are those
    # of unicodedata's that it reorders against a class-240 mark (or, for class >= 240 marks,
    # against a class-1 mark).
    candidates = [c for c in codepoints if unicodedata.combining(chr(c))]
    below = [c for c in candidates if unicodedata.combining(chr(c)) < 240]
    above = [c for c in candidates if unicodedata.combining(chr(c)) >= 240]
    combining = {c: unicodedata.combining(chr(c)) for c, text in zip(
        below, _normalize_each("NFD", ["a\u0345" + chr(c) for c in below])) if text == "a" + chr(c) + "\u0345"}
    combining.update({c: unicodedata.combining(chr(c)) for c, text in zip(
        above, _normalize_each("NFD", ["a" + chr(c) + "\u0334" for c in above])) if text == "a\u0334" + chr(c)})
    reordered = [c for c, text in zip(codepoints, _normalize_each("NFD", ["a\u0345" + chr(c) for c in codepoints]))
                 if text != "a\u0345" + chr(c) and c not in combining and c not in decompositions
                 and c not in HANGUL_SYLLABLES]
    if reordered:
        raise RuntimeError(f"reference NFD reorders code points unicodedata calls starters: {reordered[:10]}")

    # Compositions: unicodedata's two-element canonical decompositions that the reference
    # composes back (composition exclusions and pairs newer than its tables are dropped).
    pairs = []
    for c in codepoints:
        mapping = unicodedata.decomposition(chr(c))
        if c in HANGUL_SYLLABLES or not mapping or mapping.startswith("<"):
            continue
        parts = [int(part, 16) for part in mapping.split()]
        if len(parts) == 2:
            pairs.append((parts[0], parts[1], c))
    composed = _normalize_each("NFC", [chr(a) + chr(b) for a, b, _ in pairs])
    compositions = {(a, b): c for (a, b, c), text in zip(pairs, composed) if text == chr(c)}
    return UnicodeTables(f"tokenizers {tokenizers.__version__}", _regex_members(r"\p{L}"), numbers,
                         _regex_members(r"\s"), decompositions, combining, compositions)


# ----- the committed file -----------------------------------------------------------------------


def _ranges(members: tuple[int, ...]) -> list[list[int]]:
    """Sorted code points as [first, last] ranges."""
    ranges: list[list[int]] = []
    for c in members:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1][1] = c
        else:
            ranges.append([c, c])
    return ranges


def _expand(ranges: list[list[int]]) -> tuple[int, ...]:
    return tuple(c for first, last in ranges for c in range(first, last + 1))


def to_json(tables: UnicodeTables) -> str:
    document = {
        "comment": "Generated by `python -m tokenizer_model.unicode_data` from the reference named below.",
        "reference": tables.reference,
        "letters": _ranges(tables.letters),
        "numbers": _ranges(tables.numbers),
        "whitespace": _ranges(tables.whitespace),
        "decompositions": [[c, list(d)] for c, d in sorted(tables.decompositions.items())],
        "combining_classes": [[c, k] for c, k in sorted(tables.combining_classes.items())],
        "compositions": [[a, b, c] for (a, b), c in sorted(tables.compositions.items())],
    }
    lines = ["{"]
    items = list(document.items())
    for index, (key, value) in enumerate(items):
        separator = "," if index < len(items) - 1 else ""
        if isinstance(value, list):
            body = ",\n    ".join(json.dumps(item, separators=(",", ":")) for item in value)
            lines.append(f'  "{key}": [\n    {body}\n  ]{separator}')
        else:
            lines.append(f'  "{key}": {json.dumps(value)}{separator}')
    lines.append("}")
    return "\n".join(lines) + "\n"


def from_json(text: str) -> UnicodeTables:
    document = json.loads(text)
    return UnicodeTables(
        document["reference"], _expand(document["letters"]), _expand(document["numbers"]),
        _expand(document["whitespace"]),
        {c: tuple(d) for c, d in document["decompositions"]},
        {c: k for c, k in document["combining_classes"]},
        {(a, b): c for a, b, c in document["compositions"]},
    )


@functools.lru_cache(maxsize=1)
def load() -> UnicodeTables:
    """The committed tables (`unicode_tables.json`)."""
    return from_json(TABLES_PATH.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure Unicode tables from HF tokenizers and write them.")
    parser.add_argument("--output", type=Path, default=TABLES_PATH)
    args = parser.parse_args(argv)
    handle, temporary = tempfile.mkstemp(dir=args.output.parent, prefix=args.output.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(to_json(measure_reference()))
        os.chmod(temporary, 0o644)
        os.replace(temporary, args.output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
