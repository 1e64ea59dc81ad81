"""Property tests: random Unicode strings and random id sequences against the references.

Hypothesis runs derandomized (a fixed sequence of examples per test, the same in CI and locally)
with no example database, so the tests are reproducible; raise `TOKENIZER_PROPERTY_EXAMPLES` to
explore more.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("TOKENIZER_PROPERTY_EXAMPLES", "300"))
PROPERTY_SETTINGS = settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Characters where tokenizers go wrong: whitespace of every kind, apostrophes and contraction
# letters, digits of several scripts, combining marks (NFC reordering and composition), Hangul
# jamo, special-token fragments, bytes missing from SmolLM2's vocabulary, astral characters.
TRICKY = list(" \t\n\r\x0b\x0c\x85\xa0\u2028\u3000'’sStTdDmMlLrReEvVſ0123456789٣१１½²-_.,!?<|>/"
              "aZéß中あ한\u0301\u0323\u0302\u0345\u1100\u1161\u11a8\ufb2c\u0958\u212b\x04\x13\x00\U0001f642\U00040000") + [
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "<file_sep>", "▁"]

any_text = st.text(max_size=80)
tricky_text = st.lists(st.sampled_from(TRICKY), max_size=40).map("".join)
texts = st.one_of(any_text, tricky_text)


def _check_encode(compiled, reference_ids, text: str) -> None:
    assert compiled.encode(text) == reference_ids(text), repr(text)


@PROPERTY_SETTINGS
@given(text=texts)
def test_qwen_encode_random_text(qwen, qwen_reference, text):
    _check_encode(qwen, lambda t: qwen_reference.encode(t).ids, text)


@PROPERTY_SETTINGS
@given(text=texts)
def test_smollm2_encode_random_text(smollm2, smollm2_reference, text):
    _check_encode(smollm2, lambda t: smollm2_reference.encode(t).ids, text)


@PROPERTY_SETTINGS
@given(text=texts)
def test_sentencepiece_encode_random_text(sentencepiece_tokenizers, text):
    for compiled, reference in sentencepiece_tokenizers.values():
        _check_encode(compiled, reference.encode, text)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_bytelevel_decode_random_ids(qwen, qwen_reference, smollm2, smollm2_reference, data):
    for compiled, reference in ((qwen, qwen_reference), (smollm2, smollm2_reference)):
        ids = data.draw(st.lists(st.integers(0, compiled.token_count + 10), max_size=30))
        skip = data.draw(st.booleans())
        assert compiled.decode(ids, skip_special_tokens=skip) == reference.decode(ids, skip_special_tokens=skip), ids


@PROPERTY_SETTINGS
@given(data=st.data())
def test_sentencepiece_decode_random_ids(sentencepiece_tokenizers, data):
    for compiled, reference in sentencepiece_tokenizers.values():
        # Byte pieces are drawn often, so that malformed UTF-8 runs are common.
        byte_ids = [reference.piece_to_id(f"<0x{value:02X}>") for value in range(256)]
        token = st.one_of(st.integers(0, compiled.token_count - 1), st.sampled_from(byte_ids))
        ids = data.draw(st.lists(token, max_size=30))
        assert compiled.decode(ids) == reference.decode(ids), ids


@PROPERTY_SETTINGS
@given(text=texts)
def test_round_trip_where_the_reference_round_trips(qwen, qwen_reference, smollm2, smollm2_reference,
                                                    sentencepiece_tokenizers, text):
    for compiled, reference in ((qwen, qwen_reference), (smollm2, smollm2_reference)):
        if reference.decode(reference.encode(text).ids, skip_special_tokens=False) == text:
            assert compiled.decode(compiled.encode(text)) == text
    for compiled, reference in sentencepiece_tokenizers.values():
        if reference.decode(reference.encode(text)) == text:
            assert compiled.decode(compiled.encode(text)) == text
