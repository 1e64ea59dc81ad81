"""Writes a fine-tuned model as a GGUF file: the base file with the merged matrices replaced.

Every metadata key of the base file (hyper-parameters, tokenizer, chat template) is copied, and
every tensor the fine-tune did not change keeps its bytes and type. A changed matrix (a projection
with a merged adapter) is taken from the Hugging Face model, put back in llama.cpp's layout (q and
k rows permuted for the interleaved rotary embedding, as llama.cpp's converter does) and quantized
as `merged_type`: Q8_0 by default, whose error (half a step of 1/127 of each block's largest
magnitude) is far below the 4-bit grid of Q4_1, which would round most of the update away. Q8_0 is
one of the two block formats the bundle's decode kernels multiply by directly
(export/block_quantized_matvec.py), so the specialist keeps the base model's kernels.

`extra_metadata` adds string keys (the fine-tune's settings and data digest), under
"rules_iree_llm.finetune.".
"""

from __future__ import annotations

import logging
import pathlib
from collections.abc import Mapping

import gguf
import numpy as np
import torch

from export.gguf_checkpoint import copy_gguf_metadata
from export.gguf_header import check_gguf_header
from export.hf_checkpoint import hf_tensor_name
from export.llama_layout import permute_for_interleaved_rope

_log = logging.getLogger(__name__)
METADATA_PREFIX = "rules_iree_llm.finetune."
MERGED_TYPES = ("Q8_0", "F16", "F32")


def _gguf_layout(name: str, weight: torch.Tensor, head_count: int, kv_head_count: int) -> np.ndarray:
    data = weight.detach().to(torch.float32).numpy()
    if name.endswith("attn_q.weight"):
        return permute_for_interleaved_rope(data, head_count)
    if name.endswith("attn_k.weight"):
        return permute_for_interleaved_rope(data, kv_head_count)
    return data


def write_merged_gguf(base: pathlib.Path, output: pathlib.Path, state_dict: Mapping[str, torch.Tensor],
                      changed: set[str], *, merged_type: str = "Q8_0",
                      extra_metadata: Mapping[str, str] | None = None) -> list[str]:
    """Writes `output` from `base`, replacing the tensors whose Hugging Face names are in `changed`
    by `state_dict`'s; returns the GGUF names of the replaced tensors."""
    if merged_type not in MERGED_TYPES:
        raise ValueError(f"merged_type must be one of {MERGED_TYPES}, got {merged_type!r}")
    quant_type = gguf.GGMLQuantizationType[merged_type]
    check_gguf_header(base)  # bounded sizes and UTF-8 strings, which GGUFReader trusts
    reader = gguf.GGUFReader(str(base))
    architecture = reader.fields["general.architecture"].contents()
    head_count = int(reader.fields[f"{architecture}.attention.head_count"].contents())
    kv_head_count = int(reader.fields.get(f"{architecture}.attention.head_count_kv",
                                          reader.fields[f"{architecture}.attention.head_count"]).contents())
    writer = gguf.GGUFWriter(str(output), architecture)
    copy_gguf_metadata(reader, writer, lambda key: True)
    for key, value in sorted((extra_metadata or {}).items()):
        writer.add_string(METADATA_PREFIX + key, value)
    replaced = []
    for tensor in reader.tensors:
        hf_name = hf_tensor_name(tensor.name)
        if hf_name in changed:
            data = _gguf_layout(tensor.name, state_dict[hf_name], head_count, kv_head_count)
            writer.add_tensor(tensor.name, gguf.quants.quantize(data, quant_type), raw_dtype=quant_type)
            replaced.append(tensor.name)
        else:
            writer.add_tensor(tensor.name, np.asarray(tensor.data), raw_dtype=tensor.tensor_type)
    missing = changed - {hf_tensor_name(name) for name in replaced}
    if missing:
        raise ValueError(f"{base}: the fine-tuned tensors {sorted(missing)[:3]} have no counterpart in the base file")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    _log.info("wrote %s: %d of %d tensors replaced (%s)", output, len(replaced), len(reader.tensors), merged_type)
    return replaced
