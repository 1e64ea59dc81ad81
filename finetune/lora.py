"""Low-rank adapters (LoRA, Hu et al. 2021) for the linear layers of a torch model, and merging them.

A wrapped layer computes `base(x) + (alpha / rank) * x A^T B^T`: the base weight [out, in] stays
frozen, A [rank, in] starts as seeded uniform noise (Kaiming, as in the paper's reference code) and
B [out, rank] as zeros, so training starts from the base model exactly. After training,
`merge_adapters` folds `(alpha / rank) * B A` into each base weight and puts the plain layers back:
the result is an ordinary model of the base architecture, which the export chain reads like any
checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

# The projections of a Llama block, by their Hugging Face module names.
LLAMA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoraLinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, generator: torch.Generator) -> None:
        super().__init__()
        if rank < 1:
            raise ValueError(f"the LoRA rank must be at least 1, got {rank}")
        self.base = base
        for parameter in base.parameters():
            parameter.requires_grad_(False)
        self.rank = rank
        self.scaling = alpha / rank
        bound = 1.0 / math.sqrt(base.in_features)
        self.lora_a = nn.Parameter(
            (torch.rand(rank, base.in_features, generator=generator) * 2 - 1) * bound)
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scaling

    def delta(self) -> torch.Tensor:
        """The update to the base weight, [out, in]."""
        return (self.lora_b @ self.lora_a) * self.scaling

    def merged(self) -> nn.Linear:
        """The base layer with the update folded into its weight."""
        with torch.no_grad():
            self.base.weight += self.delta().to(self.base.weight.dtype)
        return self.base


def add_adapters(model: nn.Module, *, rank: int, alpha: float, seed: int,
                 targets: Iterable[str] = LLAMA_PROJECTIONS) -> list[str]:
    """Freezes `model` and wraps every nn.Linear whose attribute name is in `targets`; returns the
    wrapped modules' qualified names, in `model.named_modules()` order (which fixes the seeding)."""
    targets = frozenset(targets)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    generator = torch.Generator().manual_seed(seed)
    wrapped = []
    for qualified_name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if child_name in targets and isinstance(child, nn.Linear):
                setattr(module, child_name, LoraLinear(child, rank, alpha, generator))
                wrapped.append(f"{qualified_name}.{child_name}" if qualified_name else child_name)
    if not wrapped:
        raise ValueError(f"no nn.Linear named one of {sorted(targets)} in the model")
    return wrapped


def adapter_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The trainable parameters: every adapter's A and B, in module order."""
    return [parameter for module in model.modules() if isinstance(module, LoraLinear)
            for parameter in (module.lora_a, module.lora_b)]


def merge_adapters(model: nn.Module) -> list[str]:
    """Folds every adapter into its base weight, puts the plain nn.Linear back, and returns the
    qualified names of the merged layers."""
    merged = []
    for qualified_name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, LoraLinear):
                setattr(module, child_name, child.merged())
                merged.append(f"{qualified_name}.{child_name}" if qualified_name else child_name)
    return merged
