"""One gate-and-up matmul per feed-forward block (`--fuse-gate-up`).

sharktank's gated FFN computes `down(silu(gate(h)) * up(h))` with two matmuls of the same input. Here
the gate and up weights are concatenated in the graph ([gate; up], rows in that order) and multiplied
once; IREE evaluates the concatenation of the two constant weights at compile time (with the weights
packed at build time it becomes one packed parameter), so the checkpoint and the IRPA keep sharktank's
`ffn_gate`/`ffn_up` tensors. The result is viewed as [..., 2, hidden] and combined as

    prod(where([is gate, is up], silu(x), x), over the size-2 axis) = silu(gate) * up

so no slice of the product is copied (IREE copies a non-contiguous slice in a dispatch of its own).
Only the 1.0 * silu(gate) of the product's first step is added, which is exact. With
--block-quantized-decode, decode's product reads the two layers' block planes, concatenated, in one
dispatch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from sharktank import ops
from sharktank.layers.ffn_block import FFN
from sharktank.layers.linear import LinearLayer
from sharktank.types.tensors import DefaultPrimitiveTensor, unbox_tensor

from export.block_quantized_matvec import BlockQuantizedDecodeLinear, block_quantized_product


def _plain(linear: LinearLayer) -> bool:
    """Whether `linear` is a dense matmul without bias, quantization or input scaling."""
    return (
        isinstance(linear.weight, (torch.Tensor, DefaultPrimitiveTensor))
        and linear.bias is None
        and linear.premul_input is None
        and linear.q_input is None
        and linear.qdq_input is None
        and linear.qdq_output is None
    )


class FusedGateUpFFN(FFN):
    """`FFN` whose gate and up projections run as one matmul."""

    def forward(self, h):
        if not (
            self.is_gated
            and self.activation_fn is F.silu
            and isinstance(h, (torch.Tensor, DefaultPrimitiveTensor))
            and _plain(self.ffn_gate)
            and _plain(self.ffn_up)
        ):
            return super().forward(h)
        gate_weight = unbox_tensor(self.ffn_gate.weight)
        up_weight = unbox_tensor(self.ffn_up.weight)
        hidden = gate_weight.shape[0]
        if all(
            isinstance(linear, BlockQuantizedDecodeLinear) and linear.uses_kernel_for(h)
            for linear in (self.ffn_gate, self.ffn_up)
        ) and self.ffn_gate.block_format == self.ffn_up.block_format:
            gate_up = block_quantized_product(h, [self.ffn_gate, self.ffn_up])
        else:
            weight = torch.cat([gate_weight, up_weight], dim=0)
            gate_up = unbox_tensor(ops.linear(unbox_tensor(h), weight))
        gate_up = gate_up.unflatten(-1, (2, hidden))
        is_gate = torch.tensor([True, False]).view(2, 1)
        activated = torch.where(is_gate, F.silu(gate_up), gate_up)
        return self.ffn_down(activated.prod(dim=-2))


def use_fused_gate_up(model: torch.nn.Module) -> None:
    """Makes `model`'s gated FFN blocks compute gate and up with one matmul."""
    for module in model.modules():
        if type(module) is FFN:
            module.__class__ = FusedGateUpFFN
