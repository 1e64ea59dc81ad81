"""export.fused_gate_up: one gate-and-up matmul computes sharktank's gated FFN."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sharktank.layers.ffn_block import FFN
from sharktank.types import DefaultPrimitiveTensor, Theta
from sharktank.types.tensors import unbox_tensor

from export.fused_gate_up import FusedGateUpFFN, use_fused_gate_up

WIDTH, HIDDEN = 8, 12


def _theta(dtype: torch.dtype, seed: int, with_up_bias: bool = False) -> Theta:
    generator = torch.Generator().manual_seed(seed)
    shapes = {"ffn_gate.weight": (HIDDEN, WIDTH), "ffn_up.weight": (HIDDEN, WIDTH),
              "ffn_down.weight": (WIDTH, HIDDEN)}
    if with_up_bias:
        shapes["ffn_up.bias"] = (HIDDEN,)
    return Theta({
        name: DefaultPrimitiveTensor(
            name=name, data=(torch.randn(*shape, generator=generator) * 0.3).to(dtype)
        )
        for name, shape in shapes.items()
    })


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32])
def test_fused_equals_sharktank_ffn(dtype: torch.dtype, monkeypatch):
    theta = _theta(dtype, seed=1)
    h = torch.randn(2, 5, WIDTH, generator=torch.Generator().manual_seed(2)).to(dtype)
    expected = FFN(theta)(h)
    monkeypatch.setattr(FFN, "forward", lambda self, h: pytest.fail("fell back to sharktank"))
    # Inside sharktank's blocks the input arrives boxed.
    fused = FusedGateUpFFN(theta)(DefaultPrimitiveTensor(data=h))
    fused = unbox_tensor(fused)
    assert fused.dtype == expected.dtype == dtype
    # float16: the same roundings in the same order, so equal; float32 matmuls of a concatenated
    # weight may block their sums differently.
    tolerance = 0 if dtype == torch.float16 else 1e-6
    torch.testing.assert_close(fused, expected, rtol=0, atol=tolerance)
    # The gate, not the up projection, goes through silu.
    swapped = Theta({
        "ffn_gate.weight": theta("ffn_up.weight"), "ffn_up.weight": theta("ffn_gate.weight"),
        "ffn_down.weight": theta("ffn_down.weight"),
    })
    assert not torch.allclose(unbox_tensor(FusedGateUpFFN(swapped)(h)), expected)


def test_cases_it_does_not_cover_fall_back_to_sharktank():
    h = torch.randn(1, 3, WIDTH, generator=torch.Generator().manual_seed(3))
    biased = _theta(torch.float32, seed=4, with_up_bias=True)
    torch.testing.assert_close(FusedGateUpFFN(biased)(h), FFN(biased)(h), rtol=0, atol=0)
    plain = _theta(torch.float32, seed=5)
    gelu = FusedGateUpFFN(plain, activation_fn=F.gelu)
    torch.testing.assert_close(gelu(h), FFN(plain, activation_fn=F.gelu)(h), rtol=0, atol=0)


def test_use_fused_gate_up_swaps_every_ffn():
    model = torch.nn.ModuleDict(
        {"a": FFN(_theta(torch.float32, 6)), "b": FFN(_theta(torch.float32, 7))}
    )
    use_fused_gate_up(model)
    assert all(type(module) is FusedGateUpFFN for module in model.values())
