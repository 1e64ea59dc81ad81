"""Hostile input: text or ids beyond what one call takes are refused before the compiled module
allocates for them, and GGUF tokenizer files with strings that are not UTF-8 or structures the
reader cannot take are a TokenizerSourceError naming the file and the key."""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import pytest

from tokenizer_model import build, extract_bytelevel
from tokenizer_model.tables import TokenizerSourceError
from tokenizer_model.tokenizer import MAX_DECODE_IDS, MAX_ENCODE_BYTES, TokenizerInputError


def test_text_up_to_the_encode_limit_is_encoded(smollm2, smollm2_reference):
    text = "ab " * (MAX_ENCODE_BYTES // 3)  # no safe split point: one module call of about 1 MiB
    assert smollm2.encode(text) == smollm2_reference.encode(text).ids


def module_must_not_run(*args, **kwargs):
    pytest.fail("the compiled module was called")


@pytest.mark.parametrize(
    ("text", "size"),
    [
        # Refused on the character count, before the text is copied to UTF-8.
        ("a" * (MAX_ENCODE_BYTES + 1), f"{MAX_ENCODE_BYTES + 1} characters"),
        # Few enough characters, too many bytes.
        ("\u00e9" * (MAX_ENCODE_BYTES // 2 + 1), f"{MAX_ENCODE_BYTES + 2} bytes"),
    ],
    ids=["characters", "bytes"],
)
def test_text_beyond_the_encode_limit_is_refused_before_the_module_runs(
    smollm2, monkeypatch, text, size
):
    monkeypatch.setattr(smollm2, "_encode_chunk", module_must_not_run)
    with pytest.raises(TokenizerInputError) as error:
        smollm2.encode(text)
    message = str(error.value)
    assert f"at most {MAX_ENCODE_BYTES} bytes" in message and f"got {size}" in message
    assert "MAX_ENCODE_BYTES" in message and "Fix: encode the text in pieces" in message


def test_ids_beyond_the_decode_limit_are_refused(smollm2):
    assert smollm2.decode([0] * MAX_DECODE_IDS) is not None
    with pytest.raises(TokenizerInputError, match=f"at most {MAX_DECODE_IDS} token ids"):
        smollm2.decode([0] * (MAX_DECODE_IDS + 1))


def write_tokenizer_gguf(path: Path, tokens: list[str], token_types: list[int], **arrays) -> Path:
    """A GGUF file holding a byte-level BPE tokenizer's metadata (and `arrays`, key: list)."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_merges(["a b"])
    for key, values in arrays.items():
        writer.add_array(key, values)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    return path


def test_gguf_token_that_is_not_utf8_is_refused(tmp_path):
    path = write_tokenizer_gguf(tmp_path / "tokens.gguf", ["a", "b", "ab", "YYYY"], [1] * 4)
    path.write_bytes(path.read_bytes().replace(b"YYYY", b"Y\xffYY"))
    with pytest.raises(TokenizerSourceError) as error:
        build.extract(path)
    message = str(error.value)
    assert message.startswith(f"{path}: element 3 of metadata key 'tokenizer.ggml.tokens'")
    assert "not valid UTF-8" in message and "Fix:" in message


def test_gguf_header_is_checked_as_for_the_export(tmp_path):
    """export.gguf_header guards gguf.GGUFReader here too (sizes, nesting, UTF-8): an array of
    arrays, which the export refuses, is refused by the tokenizer build as well."""
    tokens = ["a", "b", "ab"]
    path = write_tokenizer_gguf(tmp_path / "nested.gguf", tokens, [1] * 3, nested=[[[1]]] * 3)
    with pytest.raises(TokenizerSourceError, match="'nested' holds an array of arrays") as error:
        build.extract(path)
    assert str(path) in str(error.value)
    assert build.extract(write_tokenizer_gguf(tmp_path / "flat.gguf", tokens, [1] * 3))


def test_gguf_token_types_that_do_not_match_the_tokens_are_refused(tmp_path):
    path = write_tokenizer_gguf(tmp_path / "types.gguf", ["a", "b", "ab"], [1])
    with pytest.raises(TokenizerSourceError, match="token_type has 1 entries for 3 tokens") as error:
        build.extract(path)
    assert str(path) in str(error.value)


# --- tokenizer.json files that are not what they say -----------------------------------------------

VALID_BPE = {
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
    "decoder": {"type": "ByteLevel"},
}


@pytest.mark.parametrize("text, reason", [
    ('{"model": ' * 100_000 + "{}" + "}" * 100_000, "nested too deeply"),
    ('["a list", "not an object"]', "holds a JSON list, not an object"),
    (json.dumps(dict(VALID_BPE, model=dict(VALID_BPE["model"], vocab="a string"))), "malformed tokenizer.json"),
    (json.dumps(dict(VALID_BPE, added_tokens=[{"id": 3}])), "malformed tokenizer.json"),
    (json.dumps(dict(VALID_BPE, pre_tokenizer="ByteLevel")), "malformed tokenizer.json"),
    ('{"model": "\xff"}', "cannot read tokenizer.json"),  # written as Latin-1: not UTF-8
])
def test_malformed_tokenizer_json_is_refused_with_the_file_named(tmp_path, text, reason):
    path = tmp_path / "tokenizer.json"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(TokenizerSourceError, match=reason) as error:
        build.extract(path, "tokenizer.json")
    assert str(error.value).startswith(f"{path}: ")


def test_tokenizer_json_over_the_size_limit_is_not_read(tmp_path, monkeypatch):
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(VALID_BPE), encoding="utf-8")
    assert build.extract(path)
    with path.open("r+b") as file:  # sparse: no disk is used for the bytes past the JSON
        file.truncate(extract_bytelevel.MAX_TOKENIZER_JSON_BYTES + 1)
    monkeypatch.setattr(Path, "read_text", lambda *args, **kwargs: pytest.fail("the oversized file was read"))
    with pytest.raises(TokenizerSourceError, match="MAX_TOKENIZER_JSON_BYTES"):
        build.extract(path)
