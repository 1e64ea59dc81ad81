"""The rotate-half rotary embedding as one elementwise expression (used with `--half-split-rope`).

sharktank's `RotaryEmbeddingLayer` splits each head into its two halves (`x[..., :d/2]`,
`x[..., d/2:]`), rotates them and joins them again. IREE 3.8 copies each slice in a dispatch of its
own (`slow_memcpy`): four per block for q and k, 120 of a SmolLM2 decode step's ~1000 dispatches.
Here a head is viewed as [2, d/2] and rotated as

    x * [cos, cos] + flip(x) * [-sin, sin]

(flip over the size-2 axis swaps the halves), so the rotation is a single elementwise op that IREE
fuses with its producer. It is the same arithmetic in the same order as sharktank's
`x_real * cos - x_imag * sin` and `x_imag * cos + x_real * sin`, in the cos/sin table's dtype.
"""

from __future__ import annotations

import torch
from sharktank.layers.rotary_embedding_hf import RotaryEmbeddingLayer


class RotateHalfWithoutSlices(RotaryEmbeddingLayer):
    """`RotaryEmbeddingLayer` whose rotate-half form needs no slices or concatenation."""

    def forward(self, q, sincos_cache):
        if self.interleaved or not isinstance(q, torch.Tensor) or q.shape[-1] != self.head_dim:
            return super().forward(q, sincos_cache)
        cos, sin = sincos_cache  # [batch, positions, 1, head_dim / 2]
        halves = q.to(cos.dtype).unflatten(-1, (2, self.head_dim // 2))
        signs = torch.tensor([-1.0, 1.0], dtype=cos.dtype).view(2, 1)
        rotated = halves * cos.unsqueeze(-2) + halves.flip(-2) * (sin.unsqueeze(-2) * signs)
        return rotated.flatten(-2).to(q.dtype)


def use_rotate_half_without_slices(model: torch.nn.Module) -> None:
    """Makes `model`'s rotary embedding layers compute the rotate-half form without slices."""
    for module in model.modules():
        rotary = getattr(module, "_rotary_layer", None)
        if type(rotary) is RotaryEmbeddingLayer:
            rotary.__class__ = RotateHalfWithoutSlices
