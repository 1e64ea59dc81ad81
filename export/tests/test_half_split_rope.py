"""--half-split-rope: q/k rows back in the rotate-half layout, and the rotary embedding without
slices computing exactly what sharktank's does."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sharktank.layers.rotary_embedding_hf import RotaryEmbeddingLayer
from sharktank.types import Dataset, DefaultPrimitiveTensor, Theta
from sharktank.types.quantizers import StaticScaledQuantizer

from export.errors import ExportOptionError
from export.weight_rewrites import with_half_split_rope
from export.rotary_without_slices import RotateHalfWithoutSlices
from export.llama_layout import permute_for_interleaved_rope

HEADS, KV_HEADS, HEAD_DIM, WIDTH = 4, 2, 8, 16


def _properties(interleaved: bool) -> dict:
    return {
        "general.architecture": "llama",
        "llama.attention.head_count": HEADS,
        "llama.attention.head_count_kv": KV_HEADS,
        "llama.rope.dimension_count": HEAD_DIM,
        "llama.rope.interleave_emb": interleaved,
    }


def _rotate_half_tensors(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "blk.0.attn_q.weight": torch.randn(HEADS * HEAD_DIM, WIDTH, generator=generator),
        "blk.0.attn_q.bias": torch.randn(HEADS * HEAD_DIM, generator=generator),
        "blk.0.attn_k.weight": torch.randn(KV_HEADS * HEAD_DIM, WIDTH, generator=generator),
        "blk.0.attn_v.weight": torch.randn(KV_HEADS * HEAD_DIM, WIDTH, generator=generator),
        "blk.0.attn_norm.weight": torch.randn(WIDTH, generator=generator),
    }


def _interleaved(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What a GGUF file stores: q/k rows (and biases) permuted to interleaved rotary pairs."""
    result = dict(tensors)
    for name, heads in (("attn_q", HEADS), ("attn_k", KV_HEADS)):
        for kind in ("weight", "bias"):
            key = f"blk.0.{name}.{kind}"
            if key in result:
                array = result[key].numpy()
                matrix = array.reshape(array.shape[0], -1)
                permuted = permute_for_interleaved_rope(matrix, heads).reshape(array.shape)
                result[key] = torch.from_numpy(np.ascontiguousarray(permuted))
    return result


def _dataset(tensors: dict[str, torch.Tensor], interleaved: bool) -> Dataset:
    return Dataset(
        properties=_properties(interleaved),
        root_theta=Theta(
            {name: DefaultPrimitiveTensor(name=name, data=data) for name, data in tensors.items()}
        ),
    )


def test_interleaved_rows_return_to_the_rotate_half_layout():
    original = _rotate_half_tensors(seed=1)
    converted = with_half_split_rope(_dataset(_interleaved(original), interleaved=True))

    assert converted.properties["llama.rope.interleave_emb"] is False
    saved = converted.root_theta.flatten()
    assert sorted(saved) == sorted(original)
    for name, data in original.items():
        torch.testing.assert_close(saved[name].as_torch(), data, rtol=0, atol=0)


def test_a_rotate_half_checkpoint_is_left_as_it_is():
    dataset = _dataset(_rotate_half_tensors(seed=2), interleaved=False)
    assert with_half_split_rope(dataset) is dataset


def test_quantized_projections_ask_for_a_weight_dtype():
    tensors = {
        name: DefaultPrimitiveTensor(name=name, data=data)
        for name, data in _interleaved(_rotate_half_tensors(seed=3)).items()
    }
    quantizer = StaticScaledQuantizer(scale=torch.tensor(10.0), dtype=torch.int8)
    tensors["blk.0.attn_k.weight"] = quantizer.quantize(
        tensors["blk.0.attn_k.weight"].as_torch(), name="blk.0.attn_k.weight"
    )
    dataset = Dataset(properties=_properties(interleaved=True), root_theta=Theta(tensors))
    with pytest.raises(ExportOptionError, match=r"blk\.0\.attn_k\.weight.*--weight-dtype"):
        with_half_split_rope(dataset)


def test_partial_rotary_embeddings_are_refused():
    dataset = _dataset(_interleaved(_rotate_half_tensors(seed=4)), interleaved=True)
    dataset.properties["llama.rope.dimension_count"] = HEAD_DIM // 2
    with pytest.raises(ExportOptionError, match="full-head rotary"):
        with_half_split_rope(dataset)


def _rotary(cls, interleaved: bool) -> RotaryEmbeddingLayer:
    return cls(head_dim=HEAD_DIM, rope_theta=10000.0, interleaved=interleaved)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_rotation_without_slices_equals_sharktank(dtype: torch.dtype):
    generator = torch.Generator().manual_seed(5)
    q = torch.randn(2, 5, HEADS, HEAD_DIM, generator=generator).to(dtype)
    positions = torch.tensor([[3, 4, 5, 6, 7], [0, 1, 2, 3, 4]])
    sharktank_layer = _rotary(RotaryEmbeddingLayer, interleaved=False)
    table = sharktank_layer.compute_sincos_cache(positions, dtype=dtype)

    expected = sharktank_layer(q=q, sincos_cache=table)
    rotated = _rotary(RotateHalfWithoutSlices, interleaved=False)(q=q, sincos_cache=table)
    assert rotated.dtype == expected.dtype == dtype
    torch.testing.assert_close(rotated, expected, rtol=0, atol=0)

    # The interleaved rotation of the GGUF row order gives the same result: sharktank writes the
    # rotate-half layout in both cases, so the KV cache holds the same values.
    interleaved_q = q[..., _interleaved_order()]
    torch.testing.assert_close(
        _rotary(RotaryEmbeddingLayer, interleaved=True)(q=interleaved_q, sincos_cache=table),
        expected, rtol=0, atol=0,
    )


def _interleaved_order() -> np.ndarray:
    """Rotate-half dimension index of each interleaved position within a head."""
    half = HEAD_DIM // 2
    return np.array([pair + half * part for pair in range(half) for part in range(2)])
