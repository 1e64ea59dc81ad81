"""export.grouped_attention: the grouped form computes sharktank's decomposed attention exactly."""

from __future__ import annotations

import pytest
import torch
from sharktank.layers.paged_attention import PagedGQAttention, build_cache

from export import grouped_attention
from export.grouped_attention import GroupedQueryAttention, SHARKTANK_ATTENTION_KERNEL

HEADS, KV_HEADS, DIM = 6, 2, 8


def _attention(cls):
    cache = build_cache(transformer_block_count=1, attn_head_count=KV_HEADS, attn_head_dim=DIM)
    return cls(
        attention_chunk_size=None,
        transformer_block_index=0,
        kv_cache=cache,
        use_rope=True,
        attn_dtype=torch.float32,
        activation_dtype=torch.float32,
    )


def _inputs(positions: int, kv_positions: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(1, positions, HEADS, DIM, generator=generator)
    k = torch.randn(1, kv_positions, KV_HEADS, DIM, generator=generator)
    v = torch.randn(1, kv_positions, KV_HEADS, DIM, generator=generator)
    # Causal over the last `positions` cache positions, as sharktank's prefill mask is.
    mask = torch.full((positions, kv_positions), float("-inf"))
    mask = torch.triu(mask, diagonal=kv_positions - positions + 1)[None, None]
    return q, k, v, mask


# (query positions, cached positions, the form expected): one query over whole pages (the cache's
# stride is 16 here) takes the decode form, anything else the transposed-scores form.
@pytest.mark.parametrize(
    "positions, kv_positions, form",
    [(5, 5, "many"), (1, 7, "many"), (1, 48, "one"), (3, 12, "many")],
)
def test_grouped_equals_sharktank_decomposed(
    positions: int, kv_positions: int, form: str, monkeypatch
):
    q, k, v, mask = _inputs(positions, kv_positions, seed=positions * 100 + kv_positions)
    arguments = dict(
        q=q, k=k, v=v, head_count_attn=HEADS, cache_quantizer=None,
        attention_kernel=SHARKTANK_ATTENTION_KERNEL, fake_quant=False, mask=mask,
    )
    expected = _attention(PagedGQAttention).attention(**arguments)
    calls = []
    for name in ("one", "many"):
        function = getattr(grouped_attention, f"_{name}_query_attention")
        monkeypatch.setattr(
            grouped_attention, f"_{name}_query_attention",
            lambda *args, _name=name, _function=function: calls.append(_name) or _function(*args),
        )
    grouped = _attention(GroupedQueryAttention).attention(**arguments)
    assert calls == [form]
    assert grouped.shape == expected.shape == (1, HEADS, positions, DIM)
    torch.testing.assert_close(grouped, expected, rtol=1e-6, atol=1e-6)
    # Each query head really reads its own key/value head: permuting the kv heads changes it.
    swapped = _attention(GroupedQueryAttention).attention(
        **{**arguments, "k": k.flip(2), "v": v.flip(2)}
    )
    assert not torch.allclose(swapped, expected)


def test_unsupported_cases_fall_back_to_sharktank():
    q, k, v, mask = _inputs(4, 4, seed=1)
    arguments = dict(
        q=q, k=k, v=v, head_count_attn=HEADS, cache_quantizer=None,
        attention_kernel=SHARKTANK_ATTENTION_KERNEL, fake_quant=False, mask=mask, softcap=5.0,
    )
    torch.testing.assert_close(
        _attention(GroupedQueryAttention).attention(**arguments),
        _attention(PagedGQAttention).attention(**arguments),
        rtol=0, atol=0,
    )
