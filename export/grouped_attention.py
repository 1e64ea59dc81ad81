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
single query, and prefill computes the scores transposed, [key positions, query positions].

Cases this does not cover (soft-capping, sliding windows, attention sinks, a quantized KV cache, no
mask) fall back to sharktank's implementation.
"""

from __future__ import annotations

import math

import torch
from sharktank import ops
from sharktank.layers.paged_attention import PagedGQAttention
from sharktank.models.llm import PagedLlmModelV1
from sharktank.types.tensors import unbox_tensor

# What sharktank's attention is asked for while this module computes the grouped form.
SHARKTANK_ATTENTION_KERNEL = "decomposed"


class GroupedQueryAttention(PagedGQAttention):
    """`PagedGQAttention` with decomposed attention batched per key/value head."""

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
        if isinstance(positions, int) and positions == 1 and k.shape[2] % stride == 0:
            out = _one_query_attention(grouped_q, k, v, grouped_mask, scale, stride)
        else:
            out = _many_query_attention(grouped_q, k, v, grouped_mask, scale)
        return out.unflatten(2, (group, positions)).flatten(1, 2).to(q.dtype)


def _one_query_attention(grouped_q, k, v, grouped_mask, scale: float, stride: int):
    """Decode: one query position, the keys and values in pages of `stride` positions."""
    # [batch, kv heads, pages, page positions, dim]: each product and its sum share one shape, and
    # IREE fuses the cache gather, the product and the sum into one dispatch.
    paged_k = k.unflatten(2, (-1, stride)).unsqueeze(2)
    paged_q = grouped_q[:, :, :, None, None, :]
    scores = _products_summed(paged_q, paged_k, dim=(-1,), scale=scale).flatten(3, 4)
    weights = unbox_tensor(ops.softmax(scores + grouped_mask, dim=-1))
    paged_weights = weights.unflatten(3, (-1, stride)).unsqueeze(-1)
    paged_v = v.unflatten(2, (-1, stride)).unsqueeze(2)
    return _products_summed(paged_weights, paged_v, dim=(3, 4))


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
