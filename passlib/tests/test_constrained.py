"""The token-level constraint for schedule answers (passlib.constrained).

A synthetic vocabulary checks the grammar and the mask exactly; the real SmolLM2 tokenizer (its
tokenizer.json, when one is found: SMOLLM2_TOKENIZER_JSON, or a bundle built under bazel-bin) checks
that random walks through the allowed tokens always decode to answers that parse.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import time

import numpy as np
import pytest
import tokenizers

from passlib import constrained, schedule

NAMES = ["canonicalize", "cse", "inline", "symbol-dce"]
TOKENIZER_VARIABLE = "SMOLLM2_TOKENIZER_JSON"
_REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
_TOKENIZER_CANDIDATES = [
    _REPOSITORY / "bazel-bin/artifacts/smollm2_cpu/tokenizer.json",
    _REPOSITORY / "bazel-bin/tests/gpu/smollm2_cuda/tokenizer.json",
]
EOS = 0


def synthetic_texts() -> dict[int, str]:
    pieces = ['<eos>', '{"', 'passes', '":', ' [', '"', 'can', 'onical', 'ize', 'cse', ', ', ']}',
              '{"passes": [', '"cse"', '", "', '"]}', 'inline"', 'symbol', '-', 'dce', 'canonicalize',
              '"]', '}', ']', 'xyz', 'hello', ' ', '\n', '"canon', 'cse"]}', ']}\n', '{"passes": []}',
              'cs', 'e', '"inline', 'canonicalized', '","']
    pieces += [chr(c) for c in range(32, 127) if chr(c) not in pieces]
    texts = {index: text for index, text in enumerate(pieces)}
    texts[EOS] = ""  # the stop token decodes to nothing (skip_special_tokens)
    return texts


@pytest.fixture(scope="module")
def synthetic() -> constrained.ScheduleConstraint:
    texts = synthetic_texts()
    return constrained.ScheduleConstraint(
        constrained.AnswerGrammar(NAMES), constrained.TokenTexts(texts), EOS)


def text_of(constraint: constrained.ScheduleConstraint, ids) -> str:
    return "".join(constraint.texts.text_of[int(token)] for token in ids)


def allowed_texts(constraint, decoder, ids) -> set[str]:
    return {constraint.texts.text_of.get(int(t), "<eos>") for t in decoder.allowed_tokens(ids)}


def test_the_grammar_accepts_exactly_the_canonical_answers():
    grammar = constrained.AnswerGrammar(NAMES, max_length=2)
    for text in ['{"passes": []}', '{"passes": ["cse"]}', '{"passes": ["inline", "cse"]}']:
        assert grammar.finished(grammar.step(grammar.initial, text)), text
    for text in ['{"passes":[]}', '{"passes": ["cs"]}', '{"passes": ["cse","cse"]}', '{"passes": [],}',
                 '{"passes": ["cse", "cse", "cse"]}', '{"passes": ["CSE"]}', ' {"passes": []}',
                 '{"passes": []}\n']:
        state = grammar.step(grammar.initial, text)
        assert not grammar.finished(state), text
    assert grammar.distance(grammar.initial) == len('{"passes": []}')


def test_names_that_json_cannot_hold_plainly_are_refused():
    for bad in ['a"b', "back\\slash", "-cse", " cse", ""]:
        with pytest.raises(ValueError, match="plain JSON string"):
            constrained.AnswerGrammar([bad])


def test_the_first_tokens_are_the_prefixes_of_the_opening(synthetic):
    decoder = synthetic.decoder()
    assert allowed_texts(synthetic, decoder, []) == {'{"', '{"passes": [', '{"passes": []}', '{'}


def test_after_the_opening_bracket_a_name_or_the_end(synthetic):
    ids = [synthetic_ids(synthetic, '{"passes": [')]
    decoder = synthetic.decoder()
    assert allowed_texts(synthetic, decoder, ids) == {'"', '"cse"', '"canon', '"inline', ']}', ']'}


def test_inside_a_name_only_its_continuations(synthetic):
    decoder = synthetic.decoder()
    ids = [synthetic_ids(synthetic, t) for t in ['{"passes": [', '"', 'can']]
    assert allowed_texts(synthetic, decoder, ids) == {'onical', 'o'}
    ids += [synthetic_ids(synthetic, t) for t in ['onical', 'ize']]
    assert allowed_texts(synthetic, decoder, ids) == {'"', '", "', '"]}', '"]'}  # not '","'
    ids.append(synthetic_ids(synthetic, '"]}'))
    assert decoder.finished(ids)
    assert list(decoder.allowed_tokens(ids)) == [EOS]
    assert text_of(synthetic, ids) == '{"passes": ["canonicalize"]}'


def test_the_mask_sets_minus_infinity_outside_the_grammar(synthetic):
    decoder = synthetic.decoder()
    logits = np.arange(len(synthetic_texts()), dtype=np.float32)
    masked = decoder.process([], logits)
    allowed = decoder.allowed_tokens([])
    assert np.all(masked[allowed] == logits[allowed])
    assert np.isneginf(np.delete(masked, allowed)).all()


def test_the_list_length_is_capped():
    grammar = constrained.AnswerGrammar(NAMES, max_length=2)
    constraint = constrained.ScheduleConstraint(grammar, constrained.TokenTexts(synthetic_texts()), EOS)
    decoder = constraint.decoder()
    ids = [synthetic_ids(constraint, t) for t in ['{"passes": [', '"cse"', ', ', '"cse"']]
    assert allowed_texts(constraint, decoder, ids) == {']}', ']'}  # not ', ' nor ']}\n'


def test_a_short_budget_closes_the_answer_in_time(synthetic):
    for budget in range(len('{"passes": []}'), 40):
        decoder = synthetic.decoder(budget)
        ids: list[int] = []
        while not decoder.finished(ids):
            allowed = decoder.allowed_tokens(ids)
            # the longest (slowest) continuation the mask leaves: one character at a time
            ids.append(min(allowed, key=lambda t: (len(synthetic.texts.text_of[int(t)]), int(t))))
            assert len(ids) <= budget
        parsed = schedule.parse_answer(text_of(synthetic, ids), schedule.allowed_passes(NAMES))
        assert parsed.rejected == ()


def synthetic_ids(constraint, text: str) -> int:
    matches = [int(t) for t, s in constraint.texts.text_of.items() if s == text]
    assert matches, text
    return matches[0]


def random_walk(constraint, decoder, rng: random.Random, prefer_names: bool) -> list[int]:
    ids: list[int] = []
    limit = decoder.max_new_tokens or 10_000
    while not decoder.finished(ids) and len(ids) < limit:
        allowed = [int(t) for t in decoder.allowed_tokens(ids)]
        if prefer_names:  # avoid closing the list, to reach the length cap
            opening = [t for t in allowed if "]" not in constraint.texts.text_of.get(t, "")]
            allowed = opening or allowed
        ids.append(rng.choice(allowed))
    return ids


@pytest.mark.parametrize("prefer_names", [False, True])
def test_random_walks_on_the_synthetic_vocabulary_parse(synthetic, prefer_names):
    rng = random.Random(1)
    allowed = schedule.allowed_passes(NAMES)
    for _ in range(200):
        decoder = synthetic.decoder(rng.choice([None, 14, 20, 60]))
        ids = random_walk(synthetic, decoder, rng, prefer_names)
        assert decoder.finished(ids)
        text = text_of(synthetic, ids)
        assert json.loads(text)["passes"] == list(schedule.parse_answer(text, allowed).passes)
        assert len(json.loads(text)["passes"]) <= schedule.MAX_PIPELINE_LENGTH


def test_schema_detection():
    allowed = schedule.allowed_passes(NAMES)
    schema = schedule.answer_schema(allowed)
    assert constrained.is_schedule_answer_schema(schema)
    assert constrained.schema_pass_names(schema) == NAMES
    assert not constrained.is_schedule_answer_schema(None)
    assert not constrained.is_schedule_answer_schema({"type": "object", "properties": {"x": {}}})
    assert not constrained.is_schedule_answer_schema(
        {"type": "object", "properties": {"passes": {"type": "array", "items": {"type": "string"}}}})


# --- the real SmolLM2 tokenizer ------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2() -> tokenizers.Tokenizer:
    value = os.environ.get(TOKENIZER_VARIABLE)
    candidates = [pathlib.Path(value)] if value else _TOKENIZER_CANDIDATES
    for path in candidates:
        if path.is_file():
            return tokenizers.Tokenizer.from_file(str(path))
    pytest.skip(f"no SmolLM2 tokenizer.json: set {TOKENIZER_VARIABLE} or build //artifacts:smollm2_cpu")


@pytest.mark.parametrize("prefer_names", [False, True])
def test_random_walks_with_the_smollm2_tokenizer_always_parse(smollm2, prefer_names):
    allowed = schedule.allowed_passes()
    eos = smollm2.token_to_id("<|im_end|>")
    constraint = constrained.schedule_constraint(smollm2, allowed, eos)
    rng = random.Random(7)
    lengths = []
    for _ in range(150):
        decoder = constraint.decoder(rng.choice([None, 14, 24, 48, 200]))
        ids = random_walk(constraint, decoder, rng, prefer_names)
        assert decoder.finished(ids), smollm2.decode(ids)
        text = smollm2.decode(ids)  # the tokenizer's own decoding, not the constraint's texts
        assert text.startswith('{"passes": [') and text.endswith("]}"), text
        choice = schedule.parse_answer(text, allowed)
        assert choice.rejected == ()
        assert list(choice.passes) == json.loads(text)["passes"]
        lengths.append(len(choice.passes))
    assert max(lengths) <= schedule.MAX_PIPELINE_LENGTH
    if prefer_names:
        assert schedule.MAX_PIPELINE_LENGTH in lengths


def test_a_step_is_fast_with_the_smollm2_vocabulary(smollm2):
    allowed = schedule.allowed_passes()
    constraint = constrained.schedule_constraint(smollm2, allowed, smollm2.token_to_id("<|im_end|>"))
    rng = random.Random(3)
    slowest = 0.0
    steps = 0
    logits = np.zeros(smollm2.get_vocab_size(), dtype=np.float32)
    for _ in range(30):
        decoder = constraint.decoder(200)
        ids: list[int] = []
        while not decoder.finished(ids):
            started = time.perf_counter()
            masked = decoder.process(ids, logits)
            slowest = max(slowest, time.perf_counter() - started)
            steps += 1
            ids.append(rng.choice(np.flatnonzero(np.isfinite(masked)).tolist()))
    # a decode step of the model takes ~5 ms; the first visit of a state computes its mask
    assert slowest < 0.005, slowest
