"""The prefix cache: KV-cache pages of prompt prefixes already prefilled, shared and reused.

A page holds the keys and values of `page_size` consecutive positions, and those depend only on the
tokens from position 0 to the page's end (attention is causal). So a full page that a prompt
prefilled can serve any later prompt that starts with the same tokens up to that page's end: the
runtime takes such pages instead of computing them again and prefills only the rest
(prefill_from_bs1, export.programs). `llm_transform` sends the same system prompt and few-shot
examples before every function, and `--best-of N` sends the same prompt N times.

Pages are identified by the chain of their tokens: a page's key is a hash of the previous page's key
and its own tokens, so equal keys mean equal tokens from position 0 on. A cached page has a
reference count (the running sequences that hold it); a page nobody holds stays cached until the pool
runs out of free pages, and then the least recently used go first (the deepest first among pages
used together, so that no cached page outlives the pages before it in its chain). Only full pages
that lie wholly inside a prompt are cached: decode writes at positions past the prompt, never into
them.

Not thread-safe, like the runtime that owns it; but its counts (`available_pages`, `cached_pages`,
`reused_pages`) are plain reads that another thread may take while the owner works (a server's
status page).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from collections.abc import Sequence

import numpy as np

from artifacts.kv_cache import CacheCapacityError, PagePool


@dataclasses.dataclass
class _CachedPage:
    page: int
    depth: int  # the page's index in its prompt
    references: int
    last_used: int


class PrefixCache:
    """Hands out KV-cache pages from `pool`, and keeps the full prompt pages of earlier sequences."""

    def __init__(self, pool: PagePool, page_size: int):
        self._pool = pool
        self.page_size = page_size
        self._by_key: dict[bytes, _CachedPage] = {}
        self._key_of_page: dict[int, bytes] = {}
        self._clock = itertools.count(1)
        self._idle = 0  # cached pages nobody holds
        self.reused_pages = 0  # pages lookups have handed out, in all

    @property
    def page_count(self) -> int:
        return self._pool.page_count

    @property
    def cached_pages(self) -> int:
        """Pages that hold a cached prefix (held by a sequence or not)."""
        return len(self._by_key)

    @property
    def available_pages(self) -> int:
        """Pages allocate() can hand out now: the free ones and the cached ones nobody holds."""
        return self._pool.free_pages + self._idle

    def _keys(self, ids: Sequence[int], pages: int) -> list[bytes]:
        """The chain keys of the first `pages` full pages of `ids`."""
        tokens = np.asarray(ids[: pages * self.page_size], dtype="<i8")
        keys, previous = [], b""
        for index in range(pages):
            digest = hashlib.blake2b(previous, digest_size=16)
            digest.update(tokens[index * self.page_size : (index + 1) * self.page_size].tobytes())
            previous = digest.digest()
            keys.append(previous)
        return keys

    def lookup(self, ids: Sequence[int], max_pages: int) -> list[int]:
        """The cached pages of the longest prefix of `ids` in full pages (at most `max_pages`), in
        order; the caller now holds each of them (release() gives them back)."""
        pages = []
        now = next(self._clock)
        for key in self._keys(ids, min(max_pages, len(ids) // self.page_size)):
            entry = self._by_key.get(key)
            if entry is None:
                break
            if entry.references == 0:
                self._idle -= 1
            entry.references += 1
            entry.last_used = now
            pages.append(entry.page)
        self.reused_pages += len(pages)
        return pages

    def insert(self, ids: Sequence[int], pages: Sequence[int]) -> None:
        """Records that `pages` (held by the caller, in order from position 0) now hold the keys and
        values of `ids`: each full page of `ids` not cached yet becomes cached, still held by the
        caller. A page whose prefix another page already caches stays the caller's own."""
        now = next(self._clock)
        full = min(len(ids) // self.page_size, len(pages))
        for depth, (key, page) in enumerate(zip(self._keys(ids, full), pages)):
            entry = self._by_key.get(key)
            if entry is None:
                if page in self._key_of_page:
                    raise ValueError(f"page {page} already caches another prefix")
                self._by_key[key] = _CachedPage(page, depth, references=1, last_used=now)
                self._key_of_page[page] = key
            elif entry.page == page:
                entry.last_used = now

    def allocate(self, count: int) -> list[int]:
        """Takes `count` pages for the caller alone, evicting cached pages nobody holds (least
        recently used first) when too few are free. Raises CacheCapacityError when even that is too
        few."""
        shortfall = count - self._pool.free_pages
        if shortfall > 0:
            idle = [entry for entry in self._by_key.values() if entry.references == 0]
            if len(idle) < shortfall:
                raise CacheCapacityError(
                    f"the KV cache has {self._pool.free_pages + len(idle)} free pages of {self._pool.page_count} "
                    f"(counting cached prefixes no sequence holds); {count} are needed"
                )
            idle.sort(key=lambda entry: (entry.last_used, -entry.depth))
            for entry in idle[:shortfall]:
                self._evict(entry)
        return self._pool.allocate(count)

    def _evict(self, entry: _CachedPage) -> None:
        key = self._key_of_page.pop(entry.page)
        del self._by_key[key]
        self._idle -= 1
        self._pool.release([entry.page])

    def release(self, pages: Sequence[int]) -> None:
        """Gives back pages taken with lookup() or allocate(): cached ones lose a holder (and stay
        cached), the others return to the pool."""
        own = []
        for page in pages:
            key = self._key_of_page.get(page)
            if key is None:
                own.append(page)
                continue
            entry = self._by_key[key]
            if entry.references < 1:
                raise ValueError(f"cached page {page} was released more often than it was taken")
            entry.references -= 1
            if entry.references == 0:
                self._idle += 1
        self._pool.release(own)

    def clear(self) -> None:
        """Evicts every cached page nobody holds."""
        for entry in [entry for entry in self._by_key.values() if entry.references == 0]:
            self._evict(entry)
