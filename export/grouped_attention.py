"""Grouped-query attention that reads each key/value head once (`--attention-kernel=grouped`).

sharktank's `PagedGQAttention` repeats every key and value head once per query head that shares it
(`ops.expand` to [batch, positions, query heads, dim]) and then runs attention per query head. On
CPU that repetition is materialized: in a SmolLM2 decode step (9 query heads, 3 key/value heads) the
gather of the cached pages, the repeat and the data-tiling pack of K and V were 19.5% of the time
(docs/performance.md, section 6). Here the query heads are grouped by the key/value head they share,
q [batch, kv heads, group * positions, dim] against k [batch, kv heads, positions, dim], so K and V
are read once. Every score and every output element is the same dot product as in sharktank's
decomposed attention (same scale, mask, softmax and casts); only the batching of the matmuls changes.
Two layouts suit IREE's CPU code better than sharktank's (measured in docs/performance.md,
section 7): decode sums products over the cached pages instead of running data-tiled matmuls on a
single query, and prefill computes the scores transposed, [key positions, query positions]. The
value cache stores each page and head [dim, positions] instead of [positions, dim], so that decode's
weights x V sum reads contiguous memory (section 8: decode steps 8% faster after 512 tokens
and 21% after 1500, logits bit-identical).

Cases this does not cover (soft-capping, sliding windows, attention sinks, a quantized KV cache, no
mask) fall back to sharktank's implementation.
"""

from __future__ import annotations

import math

import torch
from sharktank import ops
from sharktank.layers.paged_attention import DefaultPagedKVCache, PagedGQAttention, kv_cache_gather
from sharktank.models.llm import PagedLlmModelV1
from sharktank.types.tensors import unbox_tensor

# What sharktank's attention is asked for while this module computes the grouped form.
SHARKTANK_ATTENTION_KERNEL = "decomposed"


class GroupedQueryAttention(PagedGQAttention):
    """`PagedGQAttention` with decomposed attention batched per key/value head, and the value cache
    stored transposed.

    Each cache page holds, per block, partition and key/value head, a [page positions, dim] slot.
    Keys keep that layout; values are stored [dim, page positions], so that the decode sum
    weights x V runs along contiguous memory: IREE 3.8 vectorizes the innermost reduction dimension,
    and over [position, dim] slots that read V 64 elements apart (docs/performance.md, section 8).
    `read` returns values as [batch, pages, kv heads, dim, page positions]. Caches this does not
    cover (pipelined, quantized) keep sharktank's layout.
    """

    @property
    def _values_transposed(self) -> bool:
        return type(self.kv_cache) is DefaultPagedKVCache and self.k_quantizer is None and self.v_quantizer is None

    def write(self, state, cache_partitions, *, transformer_block_index, page_ids, start_positions=None):
        # sharktank's write stores each [positions, heads, dim] page as [heads, positions, dim];
        # handing it values whose [positions, dim] block per head holds the transposed values
        # bit for bit makes it store [heads, dim, positions].
        if not self._values_transposed:
            return super().write(
                state,
                cache_partitions,
                transformer_block_index=transformer_block_index,
                page_ids=page_ids,
                start_positions=start_positions,
            )
        key, value = cache_partitions
        stride = self.kv_cache.block_seq_stride
        value = unbox_tensor(value)
        batch, positions, heads, dim = value.shape
        pages = value.unflatten(1, (positions // stride, stride)).permute(0, 1, 3, 4, 2)
        transposed = pages.reshape(batch, positions // stride, heads, stride, dim).permute(0, 1, 3, 2, 4)
        super().write(
            state,
            [key, transposed.flatten(1, 2)],
            transformer_block_index=transformer_block_index,
            page_ids=page_ids,
            start_positions=start_positions,
        )

    def write_timestep(self, state, cache_partitions, *, transformer_block_index, seq_positions, page_ids):
        if not self._values_transposed:
            return super().write_timestep(
                state,
                cache_partitions,
                transformer_block_index=transformer_block_index,
                seq_positions=seq_positions,
                page_ids=page_ids,
            )
        cache = self.kv_cache
        stride, heads, dim = cache.block_seq_stride, cache.attn_head_count, cache.attn_head_dim
        key, value = (unbox_tensor(partition) for partition in cache_partitions)
        table = cache.unflatten_page_table(state)  # [pages, blocks, 2, heads, stride, dim]
        batch = seq_positions.shape[0]
        page = ops.gather(page_ids, dim=1, index=(seq_positions // stride).unsqueeze(1)).view(batch, 1, 1)
        offset = (seq_positions % stride).view(batch, 1, 1)
        # The (page, block, partition, head) slot of each head, for the key and the value partition.
        slot = (page * cache.transformer_block_count + transformer_block_index) * 2 * heads
        slot = slot + torch.arange(heads).view(1, heads, 1)
        # Keys: one row of `dim` values per position, as sharktank writes them.
        key_rows = slot * stride + offset
        ops.index_put_(table.flatten(0, 4), indices=(key_rows,), values=key.view(batch, heads, 1, dim).to(table.dtype))
        # Values: `dim` elements `stride` apart in the head's slot, addressed as (slot, element).
        value_slots = table.flatten(0, 3).flatten(1, 2)
        element = torch.arange(dim).view(1, 1, dim) * stride + offset
        ops.index_put_(
            value_slots, indices=(slot + heads, element), values=value.view(batch, heads, dim).to(table.dtype)
        )

    def read(self, state, *, transformer_block_index, page_ids=None):
        key, value = super().read(state, transformer_block_index=transformer_block_index, page_ids=page_ids)
        if not self._values_transposed:
            return key, value
        cache = self.kv_cache
        # The page table viewed with [dim, positions] slots, so that the gather (which IREE fuses
        # into the attention that consumes it) yields [batch, pages, kv heads, dim, page positions].
        slots = [cache.transformer_block_count, 2, cache.attn_head_count, cache.attn_head_dim, cache.block_seq_stride]
        (table,) = state
        value = kv_cache_gather(
            unbox_tensor(table).unflatten(1, slots),
            unbox_tensor(page_ids),
            torch.tensor(transformer_block_index, dtype=torch.int64),
            torch.tensor(1, dtype=torch.int64),
        )
        return key, value

    def attention(
        self,
        *,
        q,
        k,
        v,
        head_count_attn: int,
        cache_quantizer,
        attention_kernel: str,
        fake_quant,
        softcap=None,
        scale=None,
        mask=None,
        sliding_window=None,
        sink=None,
    ):
        group = head_count_attn // self.kv_cache.attn_head_count
        quantized_cache = cache_quantizer is not None and not fake_quant
        paged_v = None
        if unbox_tensor(v).dim() == 5:  # from `read`: [batch, pages, kv heads, dim, page positions]
            paged_v = unbox_tensor(v)
            v = paged_v.permute(0, 1, 4, 2, 3).flatten(1, 2)  # [batch, positions, kv heads, dim]
        if (
            attention_kernel != SHARKTANK_ATTENTION_KERNEL
            or group == 1
            or mask is None
            or mask.shape[1] != 1
            or softcap is not None
            or sliding_window is not None
            or sink is not None
            or quantized_cache
        ):
            return super().attention(
                q=q,
                k=k,
                v=v,
                head_count_attn=head_count_attn,
                cache_quantizer=cache_quantizer,
                attention_kernel=attention_kernel,
                fake_quant=fake_quant,
                softcap=softcap,
                scale=scale,
                mask=mask,
                sliding_window=sliding_window,
                sink=sink,
            )
        q = unbox_tensor(q).transpose(1, 2)  # [batch, heads, positions, dim]
        k = unbox_tensor(k).transpose(1, 2)  # [batch, kv heads, kv positions, dim]
        v = unbox_tensor(v).transpose(1, 2)
        batch, heads, positions, dim = q.shape
        kv_heads = k.shape[1]
        if scale is None:
            scale = 1.0 / math.sqrt(dim)
        # Query head h uses key/value head h // group (sharktank repeats kv head i as heads
        # i * group ... i * group + group - 1), so [batch, heads, ...] regroups without a copy.
        # Scores stay grouped through the softmax, with the mask tiled over the group (flattening
        # the mask or the softmax output instead would need a view that torch.export cannot prove
        # exists for every dynamic position count).
        grouped_q = q.unflatten(1, (kv_heads, group)).flatten(2, 3)
        grouped_mask = torch.cat([unbox_tensor(mask)] * group, dim=2)
        stride = self.kv_cache.block_seq_stride
        if isinstance(positions, int) and positions == 1 and paged_v is not None:
            out = _one_query_attention(grouped_q, k, paged_v, grouped_mask, scale, stride)
        else:
            out = _many_query_attention(grouped_q, k, v, grouped_mask, scale)
        return out.unflatten(2, (group, positions)).flatten(1, 2).to(q.dtype)


def _one_query_attention(grouped_q, k, paged_v, grouped_mask, scale: float, stride: int):
    """Decode: one query position; k [batch, kv heads, positions, dim], paged_v [batch, pages, kv
    heads, dim, page positions] as the cache stores it."""
    # [batch, kv heads, queries, pages, page positions, dim]: each product and its sum share one
    # shape, and IREE fuses the cache gather, the product and the sum into one dispatch.
    paged_k = k.unflatten(2, (-1, stride)).unsqueeze(2)
    paged_q = grouped_q[:, :, :, None, None, :]
    scores = _products_summed(paged_q, paged_k, dim=(-1,), scale=scale).flatten(3, 4)
    weights = unbox_tensor(ops.softmax(scores + grouped_mask, dim=-1))
    # [batch, kv heads, queries, pages, dim, page positions]: the sum runs along contiguous positions.
    paged_weights = weights.unflatten(3, (-1, stride)).unsqueeze(-2)
    values = paged_v.permute(0, 2, 1, 3, 4).unsqueeze(2)
    return _products_summed(paged_weights, values, dim=(3, 5))


def _many_query_attention(grouped_q, k, v, grouped_mask, scale: float):
    """Prefill: the scores computed transposed, [key positions, query positions], and the
    softmax taken over the key axis (dim -2).

    The weights feed the second matmul, whose data-tiling pack wants tiles of 16 query positions
    per key position. Scores laid out [query, key] (softmax over the innermost axis) made IREE 3.8
    compute the softmax in the pack's transposing tile order: that one dispatch was 55% of a
    512-token SmolLM2 prefill. Transposed, the pack reads contiguous query positions and the
    softmax sums across vector lanes of independent columns; the 512-token prefill takes 0.99 s
    instead of 1.43 s with the same logits. Every score is the same dot product.
    """
    scores_t = torch.matmul(k, grouped_q.transpose(-2, -1)) * scale
    weights_t = unbox_tensor(ops.softmax(scores_t + grouped_mask.transpose(-2, -1), dim=-2))
    return torch.matmul(weights_t.transpose(-2, -1), v)


def _products_summed(
    a: torch.Tensor, b: torch.Tensor, dim: tuple[int, ...], scale: float = 1.0
) -> torch.Tensor:
    """`(a * b * scale).sum(dim)` with f32 products and sums, in the dtype `torch.matmul` returns.

    For a single query position (decode) the attention matmuls are matrix-vector products over a
    few pages of cache. Written as matmuls, IREE's data tiling packs the gathered K and V pages
    and the query for microkernels every step (8 dispatches per layer, the K/V gather-and-pack
    alone 7% of a decode step). As a broadcast product and a sum, IREE fuses the cache gather,
    the product and the sum into one dispatch and sets no data-tiling encoding. Products are
    summed in f32 and rounded once, as the f16 matmul microkernels accumulate.

    `scale` multiplies each product inside the sum (the softmax scale of q k^T): a gather fused
    into a plain multiply-add contraction does not compile for llvm-cpu in IREE 3.8 (an
    unconverted i64-to-index cast), and the extra multiply keeps it a reduction. For head
    dimensions that are powers of 4 the scale is a power of two, so the result is the same as
    scaling the sum.
    """
    products = a.float() * b.float()
    if scale != 1.0:
        products = products * scale
    return products.sum(dim).to(torch.promote_types(a.dtype, b.dtype))


class GroupedAttentionLlmModel(PagedLlmModelV1):
    """sharktank's paged LLM with every `PagedGQAttention` computing the grouped form."""

    def __init__(self, theta, config):
        super().__init__(theta, config)
        # The attention blocks hold their PagedGQAttention (not a torch module) as
        # `paged_attention`; sharktank picks the class in a local map, hence the class swap.
        for module in self.modules():
            attention = getattr(module, "paged_attention", None)
            if type(attention) is PagedGQAttention:
                attention.__class__ = GroupedQueryAttention
