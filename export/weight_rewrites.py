"""The weight rewrites the export options ask for, each Dataset -> Dataset, applied by
export.export_llm before it saves the IRPA (the MLIR's parameters are the rewritten tensors).

with_dense_weights (--weight-dtype other than "keep") stores every matrix weight (quantized GGUF
blocks dequantized, float matrices cast) densely in that dtype; 1-D weights (norms) keep theirs. On
CPU this trades IRPA size for speed: IREE 3.8 compiles sharktank's fused dequantize-and-multiply
kernels for Q4_1/Q8_0 into generic loops, while dense matmuls get its tiled matmul code (see
docs/performance.md).

with_fused_qkv (--fuse-qkv) stores each block's query, key and value projections as one matrix
(`attn.wqkv`, rows in that order, biases likewise) so that one matmul computes all three
(sharktank's fused-QKV path); it needs dense weights.

with_half_split_rope (--half-split-rope) reorders the rows of each head of a GGUF checkpoint's
attn_q and attn_k (and their biases) from llama.cpp's interleaved rotary pairs (2i, 2i+1) to the
Hugging Face "rotate half" pairs (i, i + head_dim/2), and exports with sharktank's non-interleaved
rotary embedding. Attention is unchanged (q and k are permuted alike along the dimension their dot
product sums over, and sharktank's rotary embedding writes the rotate-half layout either way), but
the rotary embedding reads two contiguous halves instead of two strided slices, which IREE copies in
separate dispatches (four per block). A checkpoint already in the rotate-half layout (Hugging Face)
is left as it is.

with_block_planes (--block-quantized-decode) adds the planes of the checkpoint's Q4_1 and Q8_0
matrix weights (export.block_quantized_matvec) next to the dense weights.
"""

from __future__ import annotations

import re

import torch
from sharktank.types import Dataset, DefaultPrimitiveTensor, InferenceTensor, QuantizedTensor, Theta

from export.errors import ExportOptionError


def with_dense_weights(dataset: Dataset, dtype: torch.dtype) -> Dataset:
    """`dataset` with every weight of two or more dimensions stored densely as `dtype` (quantized
    tensors dequantized); 1-D tensors (norm weights, biases) are kept as they are."""
    tensors: dict[str, InferenceTensor] = {}
    for name, tensor in dataset.root_theta.flatten().items():
        if isinstance(tensor, QuantizedTensor):
            data = tensor.unpack().dequant(dtype=torch.float32).reshape(tensor.shape).to(dtype)
        elif len(tensor.shape) >= 2:
            data = tensor.as_torch().to(dtype)
        else:
            tensors[name] = tensor
            continue
        tensors[name] = DefaultPrimitiveTensor(name=name, data=data.contiguous().clone())
    return Dataset(properties=dataset.properties, root_theta=Theta(tensors))


def block_planes(dataset: Dataset) -> dict[str, InferenceTensor]:
    """The planes (export.block_quantized_matvec) of every matmul weight `dataset` stores as Q4_1 or
    Q8_0 blocks; a tied output projection (a dense copy of the token embedding, as the GGUF reader
    makes it) gets the embedding's. Take them before with_dense_weights dequantizes the blocks."""
    from export.block_quantized_matvec import planes_of
    from export.gguf_checkpoint import dequantize

    tensors = dataset.root_theta.flatten()
    planes: dict[str, torch.Tensor] = {}
    for name, tensor in tensors.items():
        if name.endswith(".weight") and name != "token_embd.weight":
            planes.update(planes_of(name[: -len(".weight")], tensor))
    output, embedding = tensors.get("output.weight"), tensors.get("token_embd.weight")
    if (
        isinstance(embedding, QuantizedTensor)
        and output is not None
        and not isinstance(output, QuantizedTensor)
        and torch.equal(output.as_torch(), dequantize(embedding, output.as_torch().dtype))
    ):
        planes.update(planes_of("output", embedding))
    if not planes:
        raise ExportOptionError(
            "--block-quantized-decode: the checkpoint stores no matmul weight as Q4_1 or Q8_0 "
            "blocks; export such a GGUF or drop the option."
        )
    return {name: DefaultPrimitiveTensor(name=name, data=data) for name, data in planes.items()}


def with_block_planes(dataset: Dataset, planes: dict[str, InferenceTensor]) -> Dataset:
    """`dataset` with `planes` (from block_planes) added."""
    return Dataset(properties=dataset.properties, root_theta=Theta({**dataset.root_theta.flatten(), **planes}))


def _dense_data(tensor: InferenceTensor, name: str, option: str) -> torch.Tensor:
    """The data of `tensor` (named `name`), which `option` rearranges and so needs dense."""
    if isinstance(tensor, QuantizedTensor):
        raise ExportOptionError(
            f"{option} rearranges {name}, which is stored as quantized blocks; "
            "add --weight-dtype=float16 (or another dtype)."
        )
    return tensor.as_torch()


# The tensors of a projection that --fuse-qkv and --half-split-rope rearrange by rows.
_PROJECTION_TENSORS = "weight|bias|q4_1_codes|q4_1_scales|q4_1_offsets|q8_0_codes|q8_0_scales"
_QKV_PROJECTION = re.compile(rf"^(blk\.\d+)\.attn_q\.({_PROJECTION_TENSORS})$")


def with_fused_qkv(dataset: Dataset) -> Dataset:
    """`dataset` with each block's attn_q/attn_k/attn_v weights (and biases) concatenated, in that
    order along the output dimension, into `attn.wqkv`, the name sharktank's fused path reads."""
    tensors = dict(dataset.root_theta.flatten())
    fused: dict[str, InferenceTensor] = {}
    for name in sorted(tensors):
        match = _QKV_PROJECTION.match(name)
        if not match:
            continue
        block, kind = match.groups()
        parts = [f"{block}.attn_{projection}.{kind}" for projection in ("q", "k", "v")]
        missing = [part for part in parts if part not in tensors]
        if missing:
            raise ExportOptionError(f"--fuse-qkv: the checkpoint has {name} but not {missing}.")
        fused_name = f"{block}.attn.wqkv.{kind}"
        data = torch.cat([_dense_data(tensors.pop(part), part, "--fuse-qkv") for part in parts], dim=0)
        fused[fused_name] = DefaultPrimitiveTensor(name=fused_name, data=data.contiguous())
    if not fused:
        raise ExportOptionError("--fuse-qkv: the checkpoint has no blk.N.attn_q weights to fuse.")
    return Dataset(properties=dataset.properties, root_theta=Theta({**tensors, **fused}))


_ROTARY_PROJECTION = re.compile(rf"^blk\.\d+\.attn_(q|k)\.({_PROJECTION_TENSORS})$")


def with_half_split_rope(dataset: Dataset) -> Dataset:
    """`dataset` with attn_q/attn_k rows in the rotate-half rotary layout and the property
    `<arch>.rope.interleave_emb` False; unchanged if that property is already False."""
    properties = dict(dataset.properties)
    architecture = properties["general.architecture"]
    interleaved_property = f"{architecture}.rope.interleave_emb"
    if not properties.get(interleaved_property, False):
        return dataset
    head_counts = {
        "q": int(properties[f"{architecture}.attention.head_count"]),
        "k": int(properties[f"{architecture}.attention.head_count_kv"]),
    }
    rope_dimensions = properties.get(f"{architecture}.rope.dimension_count")
    tensors = dict(dataset.root_theta.flatten())
    for name in sorted(tensors):
        match = _ROTARY_PROJECTION.match(name)
        if not match:
            continue
        data = _dense_data(tensors[name], name, "--half-split-rope")
        heads = head_counts[match.group(1)]
        head_dim = data.shape[0] // heads
        if rope_dimensions is not None and int(rope_dimensions) != head_dim:
            raise ExportOptionError(
                f"--half-split-rope: {name} has {head_dim} dimensions per head but the rotary "
                f"embedding covers {rope_dimensions}; only full-head rotary embeddings are supported."
            )
        # Per head, rows (p0 real, p0 imaginary, p1 real, ...) -> (p0 real, p1 real, ...,
        # p0 imaginary, p1 imaginary, ...).
        half_split = data.unflatten(0, (heads, head_dim // 2, 2)).transpose(1, 2).flatten(0, 2)
        tensors[name] = DefaultPrimitiveTensor(name=name, data=half_split.contiguous())
    properties[interleaved_property] = False
    return Dataset(properties=properties, root_theta=Theta(tensors))
