"""Greedy tokens of a Qwen bundle against transformers on the same checkpoint, with timings.

    bazel run //tests/full_size_qwen:parity -- --bundle bazel-bin/artifacts/qwen_cpu \
        --checkpoint ~/qwen_synthetic [--tokens 32]

Checks the bundle's tokenizer on the prompt; prints both free-running greedy token lists and how many
leading tokens are equal, then a teacher-forced comparison along transformers' tokens (argmax agreement
at every position, the largest logit difference, and transformers' top-2 margin wherever the argmax
differs), and the times; exits 1 when the free-running tokens differ.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from artifacts.runtime import load_bundle
from export import testing

PROMPT = "<|im_start|>user\nWrite a function that adds two numbers.<|im_end|>\n<|im_start|>assistant\n"


def reference_greedy(model, prompt: list[int], count: int, vocabulary: int) -> list[int]:
    """transformers' greedy continuation (float32, with its KV cache), choosing among ids < vocabulary."""
    tokens: list[int] = []
    with torch.no_grad():
        output = model(torch.tensor([prompt], dtype=torch.int64), use_cache=True)
        for _ in range(count):
            tokens.append(int(np.argmax(output.logits[0, -1, :vocabulary].float().numpy())))
            output = model(torch.tensor([[tokens[-1]]], dtype=torch.int64),
                           past_key_values=output.past_key_values, use_cache=True)
    return tokens


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, required=True)
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=32, help="greedy tokens to compare (default: 32)")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    here = Path(os.environ.get("BUILD_WORKING_DIRECTORY", "."))
    bundle_dir, checkpoint = here / arguments.bundle, here / arguments.checkpoint

    started = time.monotonic()
    runtime = load_bundle(bundle_dir)
    loaded = time.monotonic()
    # The bundle's own (tensorized) tokenizer, checked against the checkpoint's tokenizer.json.
    prompt = runtime.encode(PROMPT)
    tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    expected_prompt = tokenizer.encode(PROMPT).ids
    if prompt != expected_prompt:
        print(f"the bundle's tokenizer gave {prompt}, tokenizer.json gives {expected_prompt}")
        return 1
    # The checkpoint pads its embedding rows past the tokenizer's vocabulary (151,936 against 151,669);
    # a trained model never picks a padding row, random weights do. Both sides choose among the
    # tokenizer's ids.
    vocabulary = tokenizer.get_vocab_size(with_added_tokens=True)

    def in_vocabulary(_tokens, logits: np.ndarray) -> np.ndarray:
        masked = np.array(logits, dtype=np.float32, copy=True)
        masked[vocabulary:] = -np.inf
        return masked

    generated = runtime.generate(prompt, max_new_tokens=arguments.tokens, stop_token_ids=[],
                                 logits_processor=in_vocabulary)
    generated_at = time.monotonic()
    logging.info("bundle: loaded in %.1f s, %d prompt tokens, %d greedy tokens in %.1f s",
                 loaded - started, len(prompt), len(generated), generated_at - loaded)

    reference_model = testing.load_reference_model(checkpoint)
    reference = reference_greedy(reference_model, prompt, arguments.tokens, vocabulary)
    logging.info("transformers (float32): %d greedy tokens in %.1f s", len(reference), time.monotonic() - generated_at)

    print(f"bundle:       {generated}")
    print(f"transformers: {reference}")
    equal_prefix = next((i for i, (a, b) in enumerate(zip(generated, reference)) if a != b), len(reference))
    print(f"free-running greedy: the first {equal_prefix} of {len(reference)} tokens are equal")

    # Teacher-forced along transformers' greedy path: both models' logits at every position of
    # prompt + reference, so one near-tie does not hide the positions after it.
    sequence = prompt + reference
    expected = testing.reference_logits(reference_model, sequence)[len(prompt) - 1 : -1, :vocabulary]
    actual = np.asarray(runtime.prefill_logits(sequence), dtype=np.float32)[len(prompt) - 1 : -1, :vocabulary]
    top2 = np.sort(expected, axis=-1)[:, -2:]
    margins = top2[:, 1] - top2[:, 0]
    disagree = np.flatnonzero(actual.argmax(-1) != expected.argmax(-1))
    scale = float(np.abs(expected).max())
    print(f"teacher-forced: argmax equal at {len(reference) - len(disagree)} of {len(reference)} positions; "
          f"largest |logit difference| {float(np.abs(actual - expected).max()):.4f} "
          f"(logits up to {scale:.2f} in magnitude)")
    for index in disagree:
        print(f"  position {index}: bundle {int(actual[index].argmax())}, transformers {int(expected[index].argmax())}, "
              f"transformers' top-2 margin {float(margins[index]):.4f}")
    return 0 if generated == reference else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
