"""Reads a Llama-architecture GGUF file into a sharktank Dataset.

Tensors are loaded by sharktank's own GGUF support (F32/F16/BF16 and the quantized layouts its
Llama model can run: Q8_0, Q4_1, Q4_K), keep their names and are checked against the
hyper-parameters first. llama.cpp stores q/k permuted for the interleaved rotary layout, so the
dataset says `rope.interleave_emb = True`.

Files with tied embeddings (no `output.weight`, e.g. SmolLM2) get an `output.weight` made from the
dequantized `token_embd.weight`: sharktank's model always reads an `output` tensor.

The dataset's properties are rebuilt from the hyper-parameters alone, so that the tokenizer
vocabulary and other GGUF metadata do not end up in the IRPA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from gguf import GGUFReader, GGUFValueType
from sharktank.types import Dataset, DefaultPrimitiveTensor, InferenceTensor, QuantizedTensor, Theta
from sharktank.types import gguf_interop

from export.errors import CheckpointError
from export.gguf_header import check_gguf_header
from export.llama_layout import LlamaHyperParameters, check_shape, expected_tensors

SUPPORTED_ARCHITECTURE = "llama"
# GGUF tensor types sharktank can both load and run in its Llama model (it loads Q5_K and Q6_K
# but cannot unpack them).
SUPPORTED_TENSOR_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_1", "Q4_K")
# llama.cpp's defaults for optional keys (sharktank's own defaults differ, e.g. rope base 500000).
_DEFAULT_ROPE_FREQ_BASE = 10000.0
_DEFAULT_RMS_NORM_EPSILON = 1e-5


def load_gguf_checkpoint(path: Path, *, dtype: torch.dtype) -> Dataset:
    """Reads a GGUF file into a sharktank Dataset; `dtype` is the activation dtype, used for the
    `output.weight` derived from tied embeddings."""
    path = Path(path)
    reader = _open_reader(path)
    metadata = _read_scalar_metadata(reader)
    architecture = metadata.get("general.architecture")
    if architecture != SUPPORTED_ARCHITECTURE:
        raise CheckpointError(
            path,
            f"general.architecture is {architecture!r}; only {SUPPORTED_ARCHITECTURE!r} GGUF "
            "files are supported.",
            fix="export a Llama-architecture GGUF, or the Hugging Face safetensors checkpoint "
            "(Qwen2 is supported there).",
        )
    tensor_types = {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}
    # GGUF lists dimensions innermost first; sharktank's logical shapes are [out, in].
    tensor_shapes = {
        tensor.name: tuple(int(size) for size in reversed(list(tensor.shape)))
        for tensor in reader.tensors
    }
    del reader

    hyper_parameters = _hyper_parameters(path, metadata, tensor_shapes)
    tied_embeddings = "output.weight" not in tensor_shapes
    specs = expected_tensors(hyper_parameters, include_output=not tied_embeddings)
    for spec in specs:
        if spec.name not in tensor_shapes:
            raise CheckpointError(
                path,
                "is missing from the GGUF file.",
                tensor=spec.name,
                fix="the file is incomplete or not a plain Llama model.",
            )
        check_shape(path, spec, tensor_shapes[spec.name], file_tensor_name=spec.name)
        if tensor_types[spec.name] not in SUPPORTED_TENSOR_TYPES:
            raise CheckpointError(
                path,
                f"has type {tensor_types[spec.name]}; supported: "
                f"{', '.join(SUPPORTED_TENSOR_TYPES)}.",
                tensor=spec.name,
                fix="requantize the model to one of the supported types (e.g. Q4_1, Q8_0, F16).",
            )
    needed = {spec.name for spec in specs}
    for name in sorted(tensor_shapes):
        if name not in needed:
            raise CheckpointError(
                path,
                "is not part of a plain Llama model (e.g. rope_freqs of Llama 3.1 rope scaling).",
                tensor=name,
                fix="export a model without that variant.",
            )

    try:
        loaded = gguf_interop.load_file(path).root_theta.flatten()
    except (ValueError, OSError) as error:
        raise CheckpointError(
            path, f"could not be read ({error}).", fix="the file is corrupt; copy it again."
        ) from error
    tensors: dict[str, InferenceTensor] = {spec.name: loaded[spec.name] for spec in specs}
    if tied_embeddings:
        tensors["output.weight"] = DefaultPrimitiveTensor(
            name="output.weight",
            data=dequantize(tensors["token_embd.weight"], dtype),
        )
    return Dataset(
        properties=hyper_parameters.to_dataset_properties(), root_theta=Theta(tensors)
    )


def dequantize(tensor: InferenceTensor, dtype: torch.dtype) -> torch.Tensor:
    """A plain, contiguous torch copy of a (possibly quantized) sharktank tensor."""
    if isinstance(tensor, QuantizedTensor):
        data = tensor.unpack().dequant(dtype=dtype)
    else:
        data = tensor.as_torch().to(dtype)
    return data.contiguous().clone()


def copy_gguf_metadata(reader: GGUFReader, writer: Any, select: Callable[[str], bool]) -> None:
    """Adds the metadata keys of `reader` for which `select(key)` holds to a gguf.GGUFWriter, with
    their types (the header's own fields and the architecture, which the writer sets, are skipped)."""
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture" or not select(key):
            continue
        if field.types[0] == GGUFValueType.ARRAY:
            writer.add_key_value(key, field.contents(), field.types[0], sub_type=field.types[-1])
        else:
            writer.add_key_value(key, field.contents(), field.types[0])


def _open_reader(path: Path) -> GGUFReader:
    """A GGUFReader over a file whose header `check_gguf_header` has found sound (bounded, UTF-8)."""
    check_gguf_header(path)
    try:
        return GGUFReader(path)
    except (ValueError, OSError, IndexError, KeyError) as error:
        raise CheckpointError(
            path,
            f"is not a readable GGUF file ({type(error).__name__}: {error}).",
            fix="the file is truncated or corrupt; download or copy it again.",
        ) from error


def _read_scalar_metadata(reader: GGUFReader) -> dict[str, Any]:
    """The GGUF metadata keys that hold one string or number (arrays such as the vocabulary are
    skipped)."""
    metadata: dict[str, Any] = {}
    for field in reader.fields.values():
        if len(field.types) != 1:
            continue
        if field.types[0] == GGUFValueType.STRING:
            metadata[field.name] = bytes(field.parts[-1]).decode("utf-8")
        elif field.types[0] != GGUFValueType.ARRAY:
            metadata[field.name] = field.parts[-1][0].item()
    return metadata


def _hyper_parameters(
    path: Path, metadata: dict[str, Any], tensor_shapes: dict[str, tuple[int, ...]]
) -> LlamaHyperParameters:
    prefix = SUPPORTED_ARCHITECTURE

    def required(key: str) -> Any:
        if f"{prefix}.{key}" not in metadata:
            raise CheckpointError(
                path,
                f"lacks the metadata key {prefix}.{key}.",
                fix="the file was not written by a complete GGUF converter.",
            )
        return metadata[f"{prefix}.{key}"]

    scaling = metadata.get(f"{prefix}.rope.scaling.type", "none")
    if scaling != "none":
        raise CheckpointError(
            path, f"rope scaling type {scaling!r} is not supported; only plain rotary embeddings."
        )
    hidden_size = int(required("embedding_length"))
    head_count = int(required("attention.head_count"))
    embedding_shape = tensor_shapes.get("token_embd.weight", (0, 0))
    head_dim = int(
        metadata.get(
            f"{prefix}.attention.key_length",
            metadata.get(f"{prefix}.rope.dimension_count", hidden_size // max(head_count, 1)),
        )
    )
    rope_dimension = int(metadata.get(f"{prefix}.rope.dimension_count", head_dim))
    if rope_dimension != head_dim:
        raise CheckpointError(
            path,
            f"partial rotary embeddings (rope.dimension_count {rope_dimension} != head "
            f"dimension {head_dim}) are not supported.",
        )
    hyper_parameters = LlamaHyperParameters(
        vocab_size=int(metadata.get(f"{prefix}.vocab_size", embedding_shape[0])),
        hidden_size=hidden_size,
        intermediate_size=int(required("feed_forward_length")),
        layer_count=int(required("block_count")),
        head_count=head_count,
        kv_head_count=int(metadata.get(f"{prefix}.attention.head_count_kv", head_count)),
        head_dim=head_dim,
        rms_norm_epsilon=float(
            metadata.get(f"{prefix}.attention.layer_norm_rms_epsilon", _DEFAULT_RMS_NORM_EPSILON)
        ),
        rope_freq_base=float(metadata.get(f"{prefix}.rope.freq_base", _DEFAULT_ROPE_FREQ_BASE)),
        context_length=int(required("context_length")),
        rope_interleaved=True,
    )
    hyper_parameters.validate(path)
    return hyper_parameters
