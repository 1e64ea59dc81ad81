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


def _spy_on_forms(monkeypatch) -> list[str]:
    """Records which form ("one": decode over cached pages, "many": transposed scores) computes."""
    calls = []
    for name in ("one", "many"):
        function = getattr(grouped_attention, f"_{name}_query_attention")
        monkeypatch.setattr(
            grouped_attention, f"_{name}_query_attention",
            lambda *args, _name=name, _function=function: calls.append(_name) or _function(*args),
        )
    return calls


# (query positions, cached positions): keys and values handed over directly (as prefill does)
# take the transposed-scores form; decode over the cache is test_decode_over_the_cache_...
@pytest.mark.parametrize("positions, kv_positions", [(5, 5), (1, 7), (1, 48), (3, 12)])
def test_grouped_equals_sharktank_decomposed(positions: int, kv_positions: int, monkeypatch):
    q, k, v, mask = _inputs(positions, kv_positions, seed=positions * 100 + kv_positions)
    arguments = dict(
        q=q, k=k, v=v, head_count_attn=HEADS, cache_quantizer=None,
        attention_kernel=SHARKTANK_ATTENTION_KERNEL, fake_quant=False, mask=mask,
    )
    expected = _attention(PagedGQAttention).attention(**arguments)
    calls = _spy_on_forms(monkeypatch)
    grouped = _attention(GroupedQueryAttention).attention(**arguments)
    assert calls == ["many"]
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


def test_decode_over_the_cache_equals_sharktank_and_values_are_stored_transposed(monkeypatch):
    # Prefill writes 48 positions into pages 2, 0, 3 (stride 16), a decode step writes position 40
    # again; then one query attends over the cache, read back by each class from its own cache.
    _, k, v, _ = _inputs(1, 48, seed=7)
    q, k_new, v_new, _ = _inputs(1, 1, seed=8)
    page_ids = torch.tensor([[2, 0, 3]])
    position = torch.tensor([40])
    mask = torch.zeros(1, 1, 1, 48)
    mask[..., 41:] = float("-inf")
    results, tables = {}, {}
    for cls in (PagedGQAttention, GroupedQueryAttention):
        attention = _attention(cls)
        state = attention.allocate(page_count=4)
        attention.write(state, [k, v], transformer_block_index=0, page_ids=page_ids)
        attention.write_timestep(
            state, [k_new, v_new], transformer_block_index=0, seq_positions=position, page_ids=page_ids
        )
        cached_k, cached_v = attention.read(state, transformer_block_index=0, page_ids=page_ids)
        calls = _spy_on_forms(monkeypatch)
        results[cls] = attention.attention(
            q=q, k=cached_k, v=cached_v, head_count_attn=HEADS, cache_quantizer=None,
            attention_kernel=SHARKTANK_ATTENTION_KERNEL, fake_quant=False, mask=mask,
        )
        tables[cls] = attention.kv_cache.unflatten_page_table(state)  # [pages, 1, 2, heads, 16, dim]
    assert calls == ["one"]
    torch.testing.assert_close(results[GroupedQueryAttention], results[PagedGQAttention], rtol=1e-6, atol=1e-6)
    sharktank_table, grouped_table = tables[PagedGQAttention], tables[GroupedQueryAttention]
    # Keys in sharktank's [positions, dim] slots, values in [dim, positions] slots, same numbers.
    torch.testing.assert_close(grouped_table[:, :, 0], sharktank_table[:, :, 0], rtol=0, atol=0)
    transposed = sharktank_table[:, :, 1].transpose(-2, -1).reshape(grouped_table[:, :, 1].shape)
    torch.testing.assert_close(grouped_table[:, :, 1], transposed, rtol=0, atol=0)
    # The decode step's value landed at position 40: page 3 (third in the table), offset 8.
    torch.testing.assert_close(
        grouped_table[3, 0, 1].flatten(-2).unflatten(-1, (DIM, 16))[..., 8], v_new[0, 0], rtol=0, atol=0
    )
