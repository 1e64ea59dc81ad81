"""The runtime on a tiny real bundle (random 2-layer Llama exported by sharktank, compiled by IREE),
against sharktank's eager torch model on the same weights."""

import math
import shutil

import numpy as np
import pytest
import torch
from sharktank.types import Dataset
from sharktank.utils.llm_utils import TorchInstance

from artifacts import bundle
from artifacts.kv_cache import CacheCapacityError
from artifacts.runtime import load_bundle
from artifacts.tests.toy_bundle import BLOCK_SEQ_STRIDE, build_toy_bundle

PROMPT = "Hello, toy model! 12"  # 20 byte tokens: prefill spans two pages, decode crosses into the third
NEW_TOKENS = 24


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    return build_toy_bundle(tmp_path_factory.mktemp("toy"))


@pytest.fixture(scope="module")
def runtime(toy):
    return load_bundle(toy.directory)


@pytest.fixture(scope="module")
def eager(toy):
    return TorchInstance(theta=Dataset.load(str(toy.irpa)).root_theta, config=toy.config)


def eager_log_probs(eager: TorchInstance, ids: list[int], page_elements: int) -> np.ndarray:
    """log-softmax of sharktank's eager prefill over `ids` (a fresh cache, no reuse), [len(ids), vocab]."""
    pages = max(2, math.ceil(len(ids) / BLOCK_SEQ_STRIDE))
    tokens = torch.zeros((1, pages * BLOCK_SEQ_STRIDE), dtype=torch.int64)
    tokens[0, : len(ids)] = torch.tensor(ids)
    cache = torch.zeros((pages, page_elements), dtype=torch.float32)
    with torch.no_grad():
        log_probs = eager.prefill(tokens, torch.tensor([len(ids)]), torch.arange(pages)[None], cache)
    return log_probs[0, : len(ids)].numpy()


def eager_greedy(eager: TorchInstance, ids: list[int], count: int, page_elements: int) -> list[int]:
    """Greedy decoding by re-running eager prefill over the whole sequence for every token."""
    sequence = list(ids)
    for _ in range(count):
        sequence.append(int(np.argmax(eager_log_probs(eager, sequence, page_elements)[-1])))
    return sequence[len(ids) :]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@pytest.fixture(scope="module")
def prompt_ids(runtime):
    return runtime.encode(PROMPT)


@pytest.fixture(scope="module")
def reference_tokens(runtime, eager, prompt_ids):
    return eager_greedy(eager, prompt_ids, NEW_TOKENS, runtime.model_config.page_elements)


def test_tokenizer_round_trip(runtime, prompt_ids):
    assert len(prompt_ids) == len(PROMPT.encode())
    assert runtime.decode(prompt_ids) == PROMPT
    assert runtime.encode_chat([{"role": "user", "content": "hi"}]) == runtime.encode("<user>hi\n<assistant>")


def test_prefill_logits_match_eager(runtime, eager, prompt_ids):
    logits = runtime.prefill_logits(prompt_ids)
    expected = eager_log_probs(eager, prompt_ids, runtime.model_config.page_elements)
    assert logits.shape == expected.shape == (len(prompt_ids), 256)
    np.testing.assert_allclose(log_softmax(logits), expected, atol=2e-3, rtol=0)


def test_greedy_generation_matches_eager_recomputation(runtime, prompt_ids, reference_tokens):
    # decode reuses the KV cache across three pages; the reference recomputes everything each step
    generated = runtime.generate(prompt_ids, max_new_tokens=NEW_TOKENS, stop_token_ids=[])
    assert generated == reference_tokens


def test_local_sync_driver_gives_the_same_tokens(toy, prompt_ids, reference_tokens):
    runtime = load_bundle(toy.directory, driver="local-sync", verify=False)
    assert runtime.driver == "local-sync"
    assert runtime.generate(prompt_ids, max_new_tokens=8, stop_token_ids=[]) == reference_tokens[:8]


def test_generation_stops_at_a_stop_token(runtime, prompt_ids, reference_tokens):
    stop_token = reference_tokens[5]
    first = reference_tokens.index(stop_token)
    streamed = []
    generated = runtime.generate(prompt_ids, NEW_TOKENS, stop_token_ids=[stop_token], on_token=streamed.append)
    assert generated == streamed == reference_tokens[: first + 1]
    default_stops = set(runtime.generation.stop_token_ids)
    expected = next(
        (reference_tokens[: index + 1] for index, token in enumerate(reference_tokens) if token in default_stops),
        reference_tokens,
    )
    assert runtime.generate(prompt_ids, NEW_TOKENS) == expected


def test_pages_are_reused_without_leaking_between_sequences(runtime, prompt_ids, reference_tokens):
    other = runtime.encode("a completely different and much longer prompt that fills more pages")
    runtime.generate(other, max_new_tokens=4, stop_token_ids=[])
    assert runtime.generate(prompt_ids, max_new_tokens=NEW_TOKENS, stop_token_ids=[]) == reference_tokens
    assert runtime.free_cache_pages == runtime.cache_pages


def test_seeded_sampling(runtime, prompt_ids):
    first = runtime.generate(prompt_ids, 10, stop_token_ids=[], seed=1, temperature=1.0)
    assert runtime.generate(prompt_ids, 10, stop_token_ids=[], seed=1, temperature=1.0) == first
    assert runtime.generate(prompt_ids, 10, stop_token_ids=[], seed=2, temperature=1.0) != first


def test_capacity(runtime, prompt_ids):
    # context 128, stride 16: the export allows ceil(128 / 16) - 1 = 7 pages, 112 positions
    assert runtime.capacity == 7 * BLOCK_SEQ_STRIDE
    fitting = runtime.capacity - len(prompt_ids)
    assert len(runtime.generate(prompt_ids, fitting, stop_token_ids=[])) == fitting
    with pytest.raises(CacheCapacityError, match=f"holds {runtime.capacity} positions"):
        runtime.generate(prompt_ids, fitting + 1)
    with pytest.raises(CacheCapacityError):
        runtime.prefill_logits(list(range(runtime.capacity + 1)))
    assert runtime.free_cache_pages == runtime.cache_pages


def test_bad_prompts_are_refused(runtime):
    with pytest.raises(ValueError, match="empty"):
        runtime.generate([], 4)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        runtime.generate([3, 256], 4)
    assert runtime.generate([3], 0) == []


def test_corrupt_bundle_is_not_loaded(toy, tmp_path):
    copy = tmp_path / "toy_cpu"
    shutil.copytree(toy.directory, copy)
    vmfb = copy / bundle.MODEL_VMFB
    data = bytearray(vmfb.read_bytes())
    data[100] ^= 0xFF
    vmfb.write_bytes(bytes(data))
    with pytest.raises(bundle.BundleError, match=r"model\.vmfb.*bazel build //artifacts/tests:toy_cpu"):
        load_bundle(copy)
    (copy / bundle.GENERATION_JSON).unlink()
    with pytest.raises(bundle.BundleError, match=r"generation\.json: bundle file is missing"):
        load_bundle(copy, verify=False)


def test_logits_processor_chooses_from_the_logits_it_returns(runtime, prompt_ids, reference_tokens):
    forced = [(token + 1) % 256 for token in reference_tokens[:6]]
    seen = []

    def processor(generated, logits):
        seen.append((list(generated), logits.dtype, logits.shape))
        masked = np.full_like(logits, -np.inf)
        masked[forced[len(generated)]] = 0.0
        return masked

    assert runtime.generate(prompt_ids, 6, stop_token_ids=[], logits_processor=processor) == forced
    assert seen == [(forced[:index], np.float32, (256,)) for index in range(6)]
    # sampling draws only from the tokens the processor leaves finite
    assert runtime.generate(prompt_ids, 6, stop_token_ids=[], seed=5, temperature=1.0,
                            logits_processor=processor) == forced


def test_stop_when_ends_generation(runtime, prompt_ids, reference_tokens):
    calls = []

    def stop_after_three(generated):
        calls.append(len(generated))
        return len(generated) == 3

    assert runtime.generate(prompt_ids, NEW_TOKENS, stop_token_ids=[], stop_when=stop_after_three) == reference_tokens[:3]
    assert calls == [1, 2, 3]
    assert runtime.generate(prompt_ids, NEW_TOKENS, stop_token_ids=[], stop_when=lambda generated: False) == reference_tokens
    assert runtime.free_cache_pages == runtime.cache_pages


def test_interleaved_sequences_give_the_tokens_each_gives_alone(runtime, prompt_ids, reference_tokens):
    other_ids = runtime.encode("another prompt, of another length")
    other_alone = runtime.generate(other_ids, 10, stop_token_ids=[])
    first = runtime.start_sequence(prompt_ids, NEW_TOKENS, stop_token_ids=[])
    second = runtime.start_sequence(other_ids, 10, stop_token_ids=[])
    assert first.page_count == runtime.sequence_pages(len(prompt_ids), NEW_TOKENS)
    assert runtime.free_cache_pages == runtime.cache_pages - first.page_count - second.page_count
    while not (first.finished and second.finished):
        for sequence in (first, second):
            if not sequence.finished:
                sequence.step()
    assert first.tokens == reference_tokens and second.tokens == other_alone
    with pytest.raises(RuntimeError, match="finished"):
        first.step()
    first.release()
    second.release()
    second.release()
    assert runtime.free_cache_pages == runtime.cache_pages


def test_a_released_sequence_frees_its_pages_at_once(runtime, prompt_ids, reference_tokens):
    sequence = runtime.start_sequence(prompt_ids, NEW_TOKENS, stop_token_ids=[])
    sequence.step()
    assert sequence.tokens == reference_tokens[:2]
    sequence.release()
    assert runtime.free_cache_pages == runtime.cache_pages and sequence.page_count == 0
    with pytest.raises(RuntimeError, match="released"):
        sequence.step()
    # a sequence that needs more pages than are free is refused, and takes none
    with runtime.start_sequence(prompt_ids, runtime.capacity - len(prompt_ids), stop_token_ids=[]):
        with pytest.raises(CacheCapacityError, match="free pages"):
            runtime.start_sequence(prompt_ids, NEW_TOKENS)
    assert runtime.free_cache_pages == runtime.cache_pages
