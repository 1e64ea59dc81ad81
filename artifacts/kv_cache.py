"""Paged KV-cache bookkeeping: which cache pages a sequence holds, and how long a sequence may be.

The exported model reads and writes a cache tensor of shape [pages, page_elements]; a sequence names
its pages in `seq_block_ids`, one page per `block_seq_stride` positions. This module hands out page
ids from a fixed pool and computes the sequence capacity; it does not touch device memory.
"""

import math
from typing import Sequence

from artifacts.model_config import ModelConfig

# sharktank exports the page-count dimension of seq_block_ids with torch.export.Dim(min=2): the
# compiled functions assume at least two pages, so even a short sequence is given two.
MIN_PAGES_PER_SEQUENCE = 2


class CacheCapacityError(ValueError):
    """A sequence does not fit in the bundle's KV cache or context."""


def max_pages_per_sequence(config: ModelConfig) -> int:
    """Pages one sequence may span: the export's upper bound on the seq_block_ids dimension,
    ceil(max_seq_len / block_seq_stride) - 1 (sharktank's export_paged_llm_v1)."""
    return math.ceil(config.max_seq_len / config.block_seq_stride) - 1


def default_pool_pages(config: ModelConfig) -> int:
    """Pages to allocate for one sequence at a time: enough for the longest sequence, and no more
    than the device_block_count the bundle was exported for."""
    return min(config.device_block_count, max_pages_per_sequence(config))


def sequence_capacity(config: ModelConfig, pool_pages: int) -> int:
    """The most positions (prompt + generated tokens) one sequence can hold with `pool_pages` pages."""
    pages = min(pool_pages, max_pages_per_sequence(config))
    return min(pages * config.block_seq_stride, config.max_seq_len)


def pages_for_positions(config: ModelConfig, positions: int) -> int:
    """Pages that hold `positions` cache positions (at least MIN_PAGES_PER_SEQUENCE)."""
    return max(MIN_PAGES_PER_SEQUENCE, math.ceil(positions / config.block_seq_stride))


class PagePool:
    """A fixed set of cache page ids [0, page_count) handed out to sequences and returned after."""

    def __init__(self, page_count: int):
        if page_count < MIN_PAGES_PER_SEQUENCE:
            raise ValueError(f"a KV cache needs at least {MIN_PAGES_PER_SEQUENCE} pages, got {page_count}")
        self.page_count = page_count
        self._free = list(range(page_count - 1, -1, -1))  # pop() hands out the lowest id first

    @property
    def free_pages(self) -> int:
        return len(self._free)

    def allocate(self, count: int) -> list[int]:
        """Takes `count` free pages; raises CacheCapacityError when fewer are free."""
        if count > len(self._free):
            raise CacheCapacityError(
                f"the KV cache has {len(self._free)} free pages of {self.page_count}; {count} are needed"
            )
        return [self._free.pop() for _ in range(count)]

    def release(self, pages: Sequence[int]) -> None:
        """Returns pages taken with allocate()."""
        for page in pages:
            if not 0 <= page < self.page_count or page in self._free:
                raise ValueError(f"page {page} was not allocated from this pool")
        self._free.extend(sorted(pages, reverse=True))
