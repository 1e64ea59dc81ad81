"""model_config.json: the service config that sharktank's export writes next to the MLIR.

Read here are the facts the runtime needs to drive the exported `prefill_bs<N>` / `decode_bs<N>`
functions: the paged KV-cache layout (tokens per page, pages the device holds, elements per page,
element type), the batch sizes exported and the context length.
"""

import dataclasses
import json
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np

# Element types sharktank writes as kv_cache_dtype, by name.
_CACHE_DTYPES = {
    "float16": np.dtype(np.float16),
    "float32": np.dtype(np.float32),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float8_e4m3fn": np.dtype(ml_dtypes.float8_e4m3fn),
    "float8_e4m3fnuz": np.dtype(ml_dtypes.float8_e4m3fnuz),
}

# Logits post-processing the runtime can turn back into logits (argmax and sampling are unchanged by
# log_softmax; softmax output is turned back with a log).
SUPPORTED_LOGITS_NORMALIZATIONS = ("none", "log_softmax", "softmax")


class ModelConfigError(ValueError):
    """model_config.json is malformed or describes an export this runtime cannot drive."""


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The parts of sharktank's model_config.json the runtime uses."""

    block_seq_stride: int
    device_block_count: int
    page_elements: int
    cache_dtype: np.dtype
    max_seq_len: int
    transformer_block_count: int
    attn_head_dim: int
    prefill_batch_sizes: tuple[int, ...]
    decode_batch_sizes: tuple[int, ...]
    logits_normalization: str

    @staticmethod
    def load(path: Path) -> "ModelConfig":
        """Reads and checks model_config.json; raises ModelConfigError naming the file."""
        path = Path(path)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            return ModelConfig.from_dict(document)
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            if isinstance(error, ModelConfigError):
                raise ModelConfigError(f"{path}: {error}") from error
            raise ModelConfigError(f"{path}: not a valid sharktank model_config.json ({error!r})") from error

    @staticmethod
    def from_dict(document: dict[str, Any]) -> "ModelConfig":
        """Parses the JSON document; raises ModelConfigError for exports the runtime cannot drive."""
        cache = document["paged_kv_cache"]
        elements_per_device = list(cache["paged_kv_block_size_elements_per_device"])
        if len(elements_per_device) != 1:
            raise ModelConfigError(
                f"the export spans {len(elements_per_device)} devices; this runtime drives one device"
            )
        if document.get("has_prefill_position"):
            raise ModelConfigError(
                "the export takes a prefill start position (--has-prefill-position); this runtime drives "
                "the plain prefill(tokens, seq_lens, seq_block_ids, cache) signature"
            )
        if document.get("top_k") is not None:
            raise ModelConfigError("the export returns top-k values (--top-k); this runtime needs full logits")
        normalization = document.get("logits_normalization", "none")
        if normalization not in SUPPORTED_LOGITS_NORMALIZATIONS:
            raise ModelConfigError(
                f"logits_normalization {normalization!r} is not one of {SUPPORTED_LOGITS_NORMALIZATIONS}"
            )
        dtype_name = cache["kv_cache_dtype"]
        if dtype_name not in _CACHE_DTYPES:
            raise ModelConfigError(f"kv_cache_dtype {dtype_name!r} is not one of {sorted(_CACHE_DTYPES)}")
        return ModelConfig(
            block_seq_stride=int(cache["block_seq_stride"]),
            device_block_count=int(cache["device_block_count"]),
            page_elements=int(elements_per_device[0]),
            cache_dtype=_CACHE_DTYPES[dtype_name],
            max_seq_len=int(document["max_seq_len"]),
            transformer_block_count=int(document["transformer_block_count"]),
            attn_head_dim=int(document["attn_head_dim"]),
            prefill_batch_sizes=tuple(int(size) for size in document["prefill_batch_sizes"]),
            decode_batch_sizes=tuple(int(size) for size in document["decode_batch_sizes"]),
            logits_normalization=normalization,
        )

    @property
    def page_bytes(self) -> int:
        """Bytes of one KV-cache page (all layers, K and V, `block_seq_stride` positions)."""
        return self.page_elements * self.cache_dtype.itemsize
