"""Building blocks shared by the tokenizer kernels: UTF-8, table look-ups, special tokens, BPE merges.

Each function emits inline code into a `KernelBuilder` and returns `Scalar` results. Scratch
tensors are kernel variables (dispatch outputs) named by the caller.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from tokenizer_model.scalar_kernel import KernelBuilder, Scalar, Tensor, View

INFINITY = 1 << 62  # a merge key larger than any real (rank << 32 | position)
POSITION_MASK = (1 << 32) - 1
REPLACEMENT_CHARACTER = 0xFFFD


def decode_utf8(kernel: KernelBuilder, data: "Tensor | View | str", position: Scalar, end: Scalar,
                byte_at: "Callable[[Scalar], Scalar] | None" = None) -> tuple[Scalar, Scalar]:
    """(code point, byte length) of the character at `position`, as SentencePiece decodes UTF-8.

    A malformed sequence (bad lead or trail byte, overlong form, surrogate, > U+10FFFF, or cut
    off by `end`) decodes to U+FFFD with length 1. `byte_at(i)`, if given, replaces `data[i]`.
    """
    if byte_at is None:
        def byte_at(index: Scalar) -> Scalar:
            return kernel.load(data, index)

    available = end - position
    byte0 = byte_at(position)
    # Reading past `end` is avoided by clamping; the value is then masked by `available`.
    last = end - 1
    byte1 = byte_at(kernel.minimum(position + 1, last))
    byte2 = byte_at(kernel.minimum(position + 2, last))
    byte3 = byte_at(kernel.minimum(position + 3, last))
    trail1 = (byte1 & 0xC0) == 0x80
    trail2 = (byte2 & 0xC0) == 0x80
    trail3 = (byte3 & 0xC0) == 0x80
    two = ((byte0 & 0x1F) << 6) | (byte1 & 0x3F)
    three = ((byte0 & 0x0F) << 12) | ((byte1 & 0x3F) << 6) | (byte2 & 0x3F)
    four = ((byte0 & 0x07) << 18) | ((byte1 & 0x3F) << 12) | ((byte2 & 0x3F) << 6) | (byte3 & 0x3F)
    not_surrogate = (three < 0xD800) | (three >= 0xE000)
    valid2 = kernel.logical_and((byte0 & 0xE0) == 0xC0, available >= 2, trail1, two >= 0x80)
    valid3 = kernel.logical_and((byte0 & 0xF0) == 0xE0, available >= 3, trail1, trail2, three >= 0x800,
                                not_surrogate)
    valid4 = kernel.logical_and((byte0 & 0xF8) == 0xF0, available >= 4, trail1, trail2, trail3,
                                four >= 0x10000, four <= 0x10FFFF)
    ascii = byte0 < 0x80
    codepoint = kernel.select(ascii, byte0, kernel.select(valid2, two, kernel.select(
        valid3, three, kernel.select(valid4, four, REPLACEMENT_CHARACTER))))
    length = kernel.select(valid2, 2, kernel.select(valid3, 3, kernel.select(valid4, 4, 1)))
    return codepoint, length


def utf8_length(kernel: KernelBuilder, codepoint: Scalar) -> Scalar:
    return kernel.select(codepoint < 0x80, 1, kernel.select(
        codepoint < 0x800, 2, kernel.select(codepoint < 0x10000, 3, 4)))


def utf8_byte(kernel: KernelBuilder, codepoint: Scalar, length: Scalar, index: Scalar) -> Scalar:
    """Byte `index` (0-based) of the `length`-byte UTF-8 encoding of `codepoint`."""
    shift = (length - 1 - index) * 6
    shifted = codepoint >> shift
    lead_marker = kernel.select(length == 2, 0xC0, kernel.select(length == 3, 0xE0, kernel.select(
        length == 4, 0xF0, 0)))
    lead = lead_marker | shifted
    return kernel.select(index == 0, lead, 0x80 | (shifted & 0x3F))


def lower_bound(kernel: KernelBuilder, keys: "Tensor | View", low: Scalar, high: Scalar, key: Scalar,
                prefix: str) -> Scalar:
    """First position in the sorted range [low, high) of `keys` whose value is >= key."""
    low_name, high_name = f"{prefix}_low", f"{prefix}_high"
    kernel.declare(low_name, low)
    kernel.declare(high_name, high)

    def body() -> None:
        middle = (kernel[low_name] + kernel[high_name]) >> 1
        below = kernel.load(keys, middle) < key
        kernel[low_name] = kernel.select(below, middle + 1, kernel[low_name])
        kernel[high_name] = kernel.select(below, kernel[high_name], middle)

    kernel.while_loop(lambda: kernel[low_name] < kernel[high_name], body)
    return kernel[low_name]


def sorted_lookup(kernel: KernelBuilder, keys: "Tensor | View", keys_length: Scalar, key: Scalar,
                  prefix: str) -> tuple[Scalar, Scalar]:
    """(found, position) of `key` in the sorted tensor `keys`."""
    position = lower_bound(kernel, keys, kernel.constant(0), keys_length, key, prefix)
    clamped = kernel.maximum(kernel.minimum(position, keys_length - 1), 0)
    found = (position < keys_length) & (kernel.load(keys, clamped) == key)
    return found, clamped


@dataclasses.dataclass
class PairTable:
    """Merges as compressed rows: for left id `l`, right ids `right[offsets[l]:offsets[l+1]]` (sorted)."""

    offsets: "Tensor | View"
    offsets_length: Scalar
    right: "Tensor | View"
    rank: "Tensor | View"
    result: "Tensor | View"


def lookup_pair(kernel: KernelBuilder, table: PairTable, left: Scalar, right: Scalar,
                prefix: str) -> tuple[Scalar, Scalar, Scalar]:
    """(found, rank, merged id) of the merge of `left` and `right`."""
    in_range = (left >= 0) & (left + 1 < table.offsets_length)
    safe_left = kernel.select(in_range, left, 0)
    row_start = kernel.load(table.offsets, safe_left)
    row_end = kernel.select(in_range, kernel.load(table.offsets, safe_left + 1), row_start)
    position = lower_bound(kernel, table.right, row_start, row_end, right, prefix)
    safe_position = kernel.select(position < row_end, position, row_start)
    found = (position < row_end) & (kernel.load(table.right, safe_position) == right)
    rank = kernel.load(table.rank, safe_position)
    merged = kernel.load(table.result, safe_position)
    return found, rank, merged


@dataclasses.dataclass
class StringTable:
    """Strings matched whole (special tokens, user-defined symbols), grouped by first byte.

    Strings with first byte `b` are `first_byte[b] .. first_byte[b+1]`, longest first; string `s`
    is `data[offsets[s]:offsets[s+1]]` with id `ids[s]`.
    """

    data: "Tensor | View"
    offsets: "Tensor | View"
    ids: "Tensor | View"
    first_byte: "Tensor | View"


def match_longest(kernel: KernelBuilder, table: StringTable, text: "Tensor | View | str", position: Scalar,
                  end: Scalar, prefix: str) -> tuple[Scalar, Scalar]:
    """(id, length) of the longest table string starting at `position`, or (-1, 0)."""
    first = kernel.load(text, position)
    candidate, stop = f"{prefix}_candidate", f"{prefix}_stop"
    found_id, found_length = f"{prefix}_id", f"{prefix}_length"
    kernel.declare(candidate, kernel.load(table.first_byte, first))
    kernel.declare(stop, kernel.load(table.first_byte, first + 1))
    kernel.declare(found_id, -1)
    kernel.declare(found_length, 0)

    def try_candidate() -> None:
        start = kernel.load(table.offsets, kernel[candidate])
        length = kernel.load(table.offsets, kernel[candidate] + 1) - start

        def compare() -> None:
            equal, offset = f"{prefix}_equal", f"{prefix}_offset"
            kernel.declare(equal, True)
            kernel.declare(offset, 1)

            def step() -> None:
                same = kernel.load(text, position + kernel[offset]) == kernel.load(table.data, start + kernel[offset])
                kernel[equal] = same
                kernel[offset] = kernel[offset] + 1

            kernel.while_loop(lambda: kernel[equal] & (kernel[offset] < length), step)

            def accept() -> None:
                kernel[found_id] = kernel.load(table.ids, kernel[candidate])
                kernel[found_length] = length
                kernel[stop] = kernel[candidate]

            kernel.if_then(kernel[equal], accept)

        kernel.if_then(position + length <= end, compare)
        kernel[candidate] = kernel[candidate] + 1

    kernel.while_loop(lambda: kernel[candidate] < kernel[stop], try_candidate)
    return kernel[found_id], kernel[found_length]


@dataclasses.dataclass
class MergeScratch:
    """Names of the scratch tensor variables used by `merge_symbols`."""

    symbols: str  # i32: symbol ids, replaced in place by merges
    following: str  # i32: index of the next live symbol
    preceding: str  # i32: index of the previous live symbol (-1 at the start)
    merged: str  # i32: id that the pair starting at a symbol merges into
    tree: str  # i64: segment tree of pair keys (rank << 32 | position)
    frozen: str | None = None  # i32: non-zero for symbols that never merge


def merge_symbols(kernel: KernelBuilder, pairs: PairTable, scratch: MergeScratch, count: Scalar,
                  emit_symbol, start: "Scalar | int" = 0) -> None:
    """BPE over the `count` symbols at `start...`: repeatedly merge the lowest-ranked adjacent pair
    (leftmost on ties) until no adjacent pair has a merge.

    A segment tree over pair keys `rank << 32 | position` finds that pair in O(log n), so n symbols
    take O(n log n) (the reference implementations use a priority queue the same way).
    `emit_symbol(index)` is called for each final symbol in order (its id is `symbols[index]`).
    """
    base = kernel.value(start)

    def load(name: str, position: Scalar) -> Scalar:
        return kernel.load(name, base + position)

    def store(name: str, position: Scalar, value: "Scalar | int") -> None:
        kernel.store(name, base + position, value)

    kernel.declare("merge_width", 1)
    kernel.while_loop(lambda: kernel["merge_width"] < count,
                      lambda: kernel.__setitem__("merge_width", kernel["merge_width"] << 1))
    width = kernel["merge_width"]

    def pair_key(position: Scalar, prefix: str) -> Scalar:
        key = f"{prefix}_key"
        kernel.declare(key, INFINITY)
        following = load(scratch.following, position)

        def look_up() -> None:
            left = load(scratch.symbols, position)
            right = load(scratch.symbols, following)
            found, rank, merged = lookup_pair(kernel, pairs, left, right, f"{prefix}_pair")
            if scratch.frozen is not None:
                found = found & (load(scratch.frozen, position) == 0) & (load(scratch.frozen, following) == 0)

            def record() -> None:
                store(scratch.merged, position, merged)
                kernel[key] = (rank << 32) | position

            kernel.if_then(found, record)

        kernel.if_then(following < count, look_up)
        return kernel[key]

    def set_leaf(position: Scalar, key: Scalar) -> None:
        """Sets a leaf and recomputes its ancestors, stopping where a minimum does not change."""
        node = f"leaf_{kernel.fresh_name('n')[1:]}"
        kernel.declare(node, width + position)
        kernel.store(scratch.tree, kernel[node], key)
        kernel[node] = kernel[node] >> 1

        def climb() -> None:
            left = kernel.load(scratch.tree, kernel[node] << 1)
            right = kernel.load(scratch.tree, (kernel[node] << 1) + 1)
            smaller = kernel.minimum(left, right)
            changed = kernel.load(scratch.tree, kernel[node]) != smaller
            kernel.store(scratch.tree, kernel[node], smaller)
            kernel[node] = kernel.select(changed, kernel[node] >> 1, 0)

        kernel.while_loop(lambda: kernel[node] >= 1, climb)

    def initialize(position: Scalar) -> None:
        store(scratch.following, position, position + 1)
        store(scratch.preceding, position, position - 1)

    kernel.for_range(0, count, initialize)
    kernel.for_range(count, width, lambda position: kernel.store(scratch.tree, width + position, INFINITY))
    kernel.for_range(0, count, lambda position: kernel.store(
        scratch.tree, width + position, pair_key(position, "initial")))
    kernel.declare("merge_node", width - 1)

    def build() -> None:
        node = kernel["merge_node"]
        left = kernel.load(scratch.tree, node << 1)
        right = kernel.load(scratch.tree, (node << 1) + 1)
        kernel.store(scratch.tree, node, kernel.minimum(left, right))
        kernel["merge_node"] = node - 1

    kernel.while_loop(lambda: kernel["merge_node"] >= 1, build)

    def merge_best() -> None:
        best = kernel.load(scratch.tree, 1)
        position = best & POSITION_MASK
        absorbed = load(scratch.following, position)
        store(scratch.symbols, position, load(scratch.merged, position))
        after = load(scratch.following, absorbed)
        store(scratch.following, position, after)
        kernel.if_then(after < count, lambda: store(scratch.preceding, after, position))
        set_leaf(absorbed, kernel.constant(INFINITY))
        set_leaf(position, pair_key(position, "right"))
        before = load(scratch.preceding, position)
        kernel.if_then(before >= 0, lambda: set_leaf(before, pair_key(before, "left")))

    kernel.while_loop(lambda: kernel.load(scratch.tree, 1) < INFINITY, merge_best)

    kernel.declare("emit_position", 0)

    def emit_next() -> None:
        emit_symbol(base + kernel["emit_position"])
        kernel["emit_position"] = load(scratch.following, kernel["emit_position"])

    kernel.while_loop(lambda: kernel["emit_position"] < count, emit_next)
