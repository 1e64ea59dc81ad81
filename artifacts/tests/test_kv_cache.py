"""KV-cache page bookkeeping and model_config.json parsing, on the config sharktank wrote for SmolLM2."""

import json
from pathlib import Path

import numpy as np
import pytest

from artifacts import kv_cache
from artifacts.model_config import ModelConfig, ModelConfigError

SMOLLM2_CONFIG = Path(__file__).parent / "testdata" / "smollm2_model_config.json"


def smollm2_document() -> dict:
    return json.loads(SMOLLM2_CONFIG.read_text())


def test_smollm2_config_is_read():
    config = ModelConfig.load(SMOLLM2_CONFIG)
    assert config.block_seq_stride == 32
    assert config.device_block_count == 512
    assert config.cache_dtype == np.float16
    assert config.max_seq_len == 8192
    # one page: 30 layers x (K, V) x 32 positions x 3 KV heads x 64 dims
    assert config.page_elements == 30 * 2 * 32 * 3 * 64
    assert config.page_bytes == config.page_elements * 2
    assert config.prefill_batch_sizes == (1,) and config.decode_batch_sizes == (1,)


def test_capacity_follows_the_exported_bounds():
    config = ModelConfig.load(SMOLLM2_CONFIG)
    # the export bounds seq_block_ids to ceil(8192 / 32) - 1 = 255 pages
    assert kv_cache.max_pages_per_sequence(config) == 255
    assert kv_cache.default_pool_pages(config) == 255
    assert kv_cache.sequence_capacity(config, 255) == 255 * 32
    assert kv_cache.sequence_capacity(config, 10) == 320
    assert kv_cache.sequence_capacity(config, 1000) == 255 * 32


def test_pages_for_positions_has_a_floor_of_two():
    config = ModelConfig.load(SMOLLM2_CONFIG)
    assert kv_cache.pages_for_positions(config, 1) == 2
    assert kv_cache.pages_for_positions(config, 64) == 2
    assert kv_cache.pages_for_positions(config, 65) == 3
    assert kv_cache.pages_for_positions(config, 32 * 7) == 7


def test_small_device_block_count_limits_the_pool():
    document = smollm2_document()
    document["paged_kv_cache"]["device_block_count"] = 8
    config = ModelConfig.from_dict(document)
    assert kv_cache.default_pool_pages(config) == 8
    assert kv_cache.sequence_capacity(config, kv_cache.default_pool_pages(config)) == 256


def test_page_pool_allocates_distinct_pages_and_takes_them_back():
    pool = kv_cache.PagePool(6)
    first = pool.allocate(2)
    second = pool.allocate(3)
    assert first == [0, 1] and second == [2, 3, 4]
    assert pool.free_pages == 1
    with pytest.raises(kv_cache.CacheCapacityError, match="1 free pages of 6; 2 are needed"):
        pool.allocate(2)
    pool.release(first)
    assert pool.free_pages == 3
    assert sorted(pool.allocate(3)) == [0, 1, 5]
    with pytest.raises(ValueError, match="not allocated"):
        pool.release([7])
    pool.release(second)
    with pytest.raises(ValueError, match="not allocated"):
        pool.release([2])


def test_page_pool_needs_two_pages():
    with pytest.raises(ValueError, match="at least 2 pages"):
        kv_cache.PagePool(1)


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda d: d.update(has_prefill_position=True), "prefill start position"),
        (lambda d: d.update(top_k=4), "top-k"),
        (lambda d: d.update(logits_normalization="entmax"), "logits_normalization"),
        (lambda d: d["paged_kv_cache"].update(kv_cache_dtype="int4"), "kv_cache_dtype"),
        (lambda d: d["paged_kv_cache"].update(paged_kv_block_size_elements_per_device=[1, 1]), "2 devices"),
    ],
)
def test_exports_the_runtime_cannot_drive_are_refused(tmp_path, change, expected):
    document = smollm2_document()
    change(document)
    path = tmp_path / "model_config.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ModelConfigError) as error:
        ModelConfig.load(path)
    assert expected in str(error.value) and str(path) in str(error.value)


def test_malformed_config_names_the_file(tmp_path):
    path = tmp_path / "model_config.json"
    path.write_text('{"paged_kv_cache": {}}')
    with pytest.raises(ModelConfigError, match="model_config.json: not a valid sharktank model_config.json"):
        ModelConfig.load(path)
