"""The prefix cache's bookkeeping: which pages a prompt reuses, who holds them, and what is evicted.

The cache does not touch device memory, so these tests drive it alone; the runtime's use of it (the
same tokens and logits with and without it) is tested on real bundles in
tests/tiny_models/test_tiny_bundles.py and artifacts/tests/test_smollm2_parity.py.
"""

import pytest

from artifacts.kv_cache import CacheCapacityError, PagePool
from artifacts.prefix_cache import PrefixCache

PAGE = 4


def tokens(count: int, start: int = 0) -> list[int]:
    return list(range(start, start + count))


def started(cache: PrefixCache, ids: list[int], pages: int, max_reuse: int = 100) -> list[int]:
    """What the runtime does for a sequence: reuse, allocate the rest, prefill, insert."""
    reused = cache.lookup(ids, max_pages=max_reuse)
    held = reused + cache.allocate(pages - len(reused))
    cache.insert(ids, held)
    return held


def test_a_prompt_reuses_the_full_pages_of_an_earlier_prompts_prefix():
    cache = PrefixCache(PagePool(16), PAGE)
    first = started(cache, tokens(10), pages=4)  # full pages 0 and 1 are cached; page 2 is partial
    assert cache.cached_pages == 2
    second_ids = tokens(8) + [99, 98, 97]
    assert cache.lookup(second_ids, max_pages=10) == first[:2]
    assert cache.reused_pages == 2
    # A prompt that differs inside page 1 reuses page 0 only; one that differs in page 0, nothing.
    assert cache.lookup(tokens(5) + [77, 76, 75, 74], max_pages=10) == first[:1]
    assert cache.lookup([1] + tokens(9, 1), max_pages=10) == []


def test_lookup_stops_at_max_pages_and_at_the_last_full_page():
    cache = PrefixCache(PagePool(16), PAGE)
    first = started(cache, tokens(16), pages=5)
    assert cache.cached_pages == 4
    assert cache.lookup(tokens(16), max_pages=2) == first[:2]
    assert cache.lookup(tokens(7), max_pages=10) == first[:1]  # 7 tokens: one full page


def test_released_pages_stay_cached_and_count_as_available():
    pool = PagePool(8)
    cache = PrefixCache(pool, PAGE)
    held = started(cache, tokens(12), pages=4)
    assert cache.available_pages == 4 and pool.free_pages == 4
    cache.release(held)
    # Pages 0-2 cache the prompt; the fourth returned to the pool.
    assert pool.free_pages == 5 and cache.cached_pages == 3 and cache.available_pages == 8
    again = cache.lookup(tokens(12), max_pages=3)
    assert again == held[:3] and cache.available_pages == 5


def test_a_shared_page_is_freed_only_when_every_holder_released_it():
    pool = PagePool(8)
    cache = PrefixCache(pool, PAGE)
    first = started(cache, tokens(8), pages=3)
    second = started(cache, tokens(8) + [50, 51], pages=3)
    assert second[:2] == first[:2] and second[2] != first[2]
    cache.release(first)
    cache.allocate(pool.free_pages)  # take every free page: only idle cached pages could be evicted
    with pytest.raises(CacheCapacityError, match=r"0 free pages of 8 \(counting cached prefixes no sequence holds\); 1 are needed"):
        cache.allocate(1)  # pages 0-1 are still held by the second sequence
    cache.release(second)  # its third page (partial) goes back to the pool, its first two stay cached
    assert len(cache.allocate(2)) == 2  # one free page and one eviction: the deeper cached page
    assert cache.cached_pages == 1 and cache.lookup(tokens(8), max_pages=2) == first[:1]


def test_eviction_takes_the_least_recently_used_and_the_deepest_page_first():
    pool = PagePool(6)
    cache = PrefixCache(pool, PAGE)
    old = started(cache, tokens(8), pages=2)
    new = started(cache, tokens(8, start=100), pages=2)
    cache.release(old)
    cache.release(new)
    assert pool.free_pages == 2 and cache.cached_pages == 4
    cache.allocate(3)  # one eviction: the old prompt's second page
    assert cache.lookup(tokens(8), max_pages=2) == old[:1]
    assert cache.lookup(tokens(8, start=100), max_pages=2) == new


def test_a_page_is_cached_once_and_copies_stay_private():
    pool = PagePool(8)
    cache = PrefixCache(pool, PAGE)
    first = started(cache, tokens(8), pages=2)
    # A sequence that reused nothing (max_reuse 0) computed its own copy of the same two pages.
    copy = started(cache, tokens(8), pages=2, max_reuse=0)
    assert set(copy).isdisjoint(first) and cache.cached_pages == 2
    cache.release(copy)
    assert pool.free_pages == 6  # the copies went straight back
    cache.release(first)
    cache.clear()
    assert pool.free_pages == 8 and cache.cached_pages == 0


def test_releasing_a_cached_page_twice_is_refused():
    cache = PrefixCache(PagePool(4), PAGE)
    held = started(cache, tokens(4), pages=2)
    cache.release(held)
    with pytest.raises(ValueError, match="released more often than it was taken"):
        cache.release(held[:1])
