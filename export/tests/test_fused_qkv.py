"""weight_rewrites.with_fused_qkv: one attn.wqkv matrix per block, and clear errors where it cannot be."""

from __future__ import annotations

import pytest
import torch
from sharktank.types import Dataset, DefaultPrimitiveTensor, Theta
from sharktank.types.quantizers import StaticScaledQuantizer

from export.errors import ExportOptionError
from export.weight_rewrites import with_fused_qkv

PROPERTIES = {"general.architecture": "llama"}


def _dataset(**tensors: torch.Tensor) -> Dataset:
    return Dataset(
        properties=dict(PROPERTIES),
        root_theta=Theta(
            {name: DefaultPrimitiveTensor(name=name, data=data) for name, data in tensors.items()}
        ),
    )


def _projections(block: int, with_bias: bool) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(block)
    tensors = {}
    for projection, rows in (("q", 8), ("k", 4), ("v", 4)):
        tensors[f"blk.{block}.attn_{projection}.weight"] = torch.randn(rows, 6, generator=generator)
        if with_bias:
            tensors[f"blk.{block}.attn_{projection}.bias"] = torch.randn(rows, generator=generator)
    return tensors


def test_projections_are_concatenated_q_k_v_per_block():
    tensors = {**_projections(0, with_bias=True), **_projections(1, with_bias=False)}
    tensors["blk.0.attn_norm.weight"] = torch.ones(6)
    fused = with_fused_qkv(_dataset(**tensors)).root_theta.flatten()

    assert sorted(fused) == [
        "blk.0.attn.wqkv.bias", "blk.0.attn.wqkv.weight", "blk.0.attn_norm.weight",
        "blk.1.attn.wqkv.weight",
    ]
    for block, kinds in ((0, ("weight", "bias")), (1, ("weight",))):
        for kind in kinds:
            expected = torch.cat(
                [tensors[f"blk.{block}.attn_{projection}.{kind}"] for projection in "qkv"]
            )
            torch.testing.assert_close(
                fused[f"blk.{block}.attn.wqkv.{kind}"].as_torch(), expected, rtol=0, atol=0
            )


def test_a_missing_projection_is_named():
    tensors = _projections(0, with_bias=False)
    del tensors["blk.0.attn_v.weight"]
    with pytest.raises(ExportOptionError, match=r"blk\.0\.attn_v\.weight"):
        with_fused_qkv(_dataset(**tensors))


def test_quantized_projections_ask_for_a_weight_dtype():
    dataset = _dataset(**_projections(0, with_bias=False))
    tensors = dict(dataset.root_theta.flatten())
    quantizer = StaticScaledQuantizer(scale=torch.tensor(10.0), dtype=torch.int8)
    tensors["blk.0.attn_k.weight"] = quantizer.quantize(
        tensors["blk.0.attn_k.weight"].as_torch(), name="blk.0.attn_k.weight"
    )
    with pytest.raises(ExportOptionError, match=r"--fuse-qkv .*blk\.0\.attn_k\.weight.*--weight-dtype"):
        with_fused_qkv(Dataset(properties=dict(PROPERTIES), root_theta=Theta(tensors)))


def test_a_checkpoint_without_projections_is_refused():
    with pytest.raises(ExportOptionError, match="no blk.N.attn_q"):
        with_fused_qkv(_dataset(**{"token_embd.weight": torch.ones(4, 6)}))
