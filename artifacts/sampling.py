"""Choosing the next token from logits: greedy (argmax) or seeded temperature sampling."""

from typing import Optional

import numpy as np


def select_token(logits: np.ndarray, temperature: float = 0.0, rng: Optional[np.random.Generator] = None) -> int:
    """The next token id for a 1-D row of logits.

    temperature == 0 picks the argmax (the lowest id on ties), as greedy decoding in transformers does.
    temperature > 0 samples from softmax(logits / temperature) with `rng`, so a fixed seed gives a
    fixed sequence.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0:
        return int(np.argmax(logits))
    if rng is None:
        raise ValueError("sampling with temperature > 0 needs a random generator")
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= np.max(scaled)
    weights = np.exp(scaled)
    cumulative = np.cumsum(weights)
    threshold = rng.random() * cumulative[-1]
    return int(min(np.searchsorted(cumulative, threshold, side="right"), len(cumulative) - 1))
