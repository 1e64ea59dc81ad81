"""Next-token selection: greedy argmax and seeded temperature sampling."""

import numpy as np
import pytest

from artifacts.sampling import select_token


def test_greedy_is_argmax_with_lowest_id_on_ties():
    assert select_token(np.array([0.5, 3.0, -1.0, 3.0], dtype=np.float32)) == 1
    assert select_token(np.array([-np.inf, -5.0, -6.0])) == 1


def test_same_seed_gives_same_tokens():
    logits = np.random.default_rng(0).normal(size=1000).astype(np.float32)
    first = [select_token(logits, 1.0, np.random.default_rng(7)) for _ in range(5)]
    rng_a, rng_b = np.random.default_rng(11), np.random.default_rng(11)
    draws_a = [select_token(logits, 0.7, rng_a) for _ in range(50)]
    draws_b = [select_token(logits, 0.7, rng_b) for _ in range(50)]
    assert draws_a == draws_b
    assert len(set(first)) == 1  # each draw used a fresh generator with the same seed


def test_samples_follow_softmax_of_scaled_logits():
    logits = np.array([2.0, 1.0, 0.0, -1.0], dtype=np.float32)
    temperature = 0.8
    rng = np.random.default_rng(1234)
    draws = 40_000
    counts = np.bincount([select_token(logits, temperature, rng) for _ in range(draws)], minlength=4)
    expected = np.exp(logits / temperature) / np.exp(logits / temperature).sum()
    # 5 standard deviations of a binomial count
    tolerance = 5 * np.sqrt(draws * expected * (1 - expected))
    assert np.all(np.abs(counts - draws * expected) < tolerance), (counts, draws * expected)


def test_masked_tokens_are_never_sampled():
    logits = np.array([-np.inf, 0.0, -np.inf, 0.0])
    rng = np.random.default_rng(3)
    assert {select_token(logits, 2.0, rng) for _ in range(500)} == {1, 3}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="temperature"):
        select_token(np.zeros(3), -1.0)
    with pytest.raises(ValueError, match="random generator"):
        select_token(np.zeros(3), 1.0)
