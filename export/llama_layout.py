"""Llama-family hyper-parameters in one normalized form, and the tensors they imply.

Both checkpoint readers (GGUF and Hugging Face) reduce a checkpoint to `LlamaHyperParameters`.
From it come the GGUF-style dataset properties that sharktank's `LlamaHParams.from_gguf_props`
reads, and the list of tensors (sharktank names and shapes) that sharktank's `PagedLlmModelV1`
needs, which the readers check before any long work starts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from export.errors import CheckpointError

# sharktank selects its model code by this architecture name; Qwen2 is exported as "llama" too
# (Llama plus q/k/v biases, which sharktank's LinearLayer picks up when the theta has them).
SHARKTANK_ARCHITECTURE = "llama"


@dataclasses.dataclass(frozen=True)
class LlamaHyperParameters:
    """What sharktank needs to know about a Llama-family model.

    `rope_interleaved` says how the rows of attn_q/attn_k are ordered within a head: True for the
    GGUF layout (llama.cpp permutes q/k so that rotary pairs are (2i, 2i+1)), False for the Hugging
    Face "rotate half" layout (pairs are (i, i + head_dim/2)).
    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    layer_count: int
    head_count: int
    kv_head_count: int
    head_dim: int
    rms_norm_epsilon: float
    rope_freq_base: float
    context_length: int
    rope_interleaved: bool

    def validate(self, source: Path) -> None:
        """Raises CheckpointError (naming `source`) when the numbers cannot describe a model."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.type in ("int", int) and (not isinstance(value, int) or value <= 0):
                raise CheckpointError(
                    source,
                    f"hyper-parameter {field.name} = {value!r} must be a positive integer.",
                    fix="check the checkpoint's configuration.",
                )
        if self.head_count % self.kv_head_count != 0:
            raise CheckpointError(
                source,
                f"{self.head_count} attention heads are not a multiple of "
                f"{self.kv_head_count} key/value heads.",
                fix="check num_attention_heads / num_key_value_heads.",
            )
        if self.head_dim % 2 != 0:
            raise CheckpointError(
                source,
                f"head dimension {self.head_dim} is odd; rotary embeddings need an even one.",
            )
        if not self.rms_norm_epsilon > 0 or not self.rope_freq_base > 0:
            raise CheckpointError(
                source,
                f"rms_norm_epsilon ({self.rms_norm_epsilon}) and rope base "
                f"({self.rope_freq_base}) must be positive.",
            )

    def with_context_length(self, context_length: int) -> LlamaHyperParameters:
        """The same model served with a different maximum sequence length."""
        return dataclasses.replace(self, context_length=context_length)

    def to_dataset_properties(self) -> dict[str, object]:
        """The GGUF-style properties sharktank's LlamaHParams.from_gguf_props reads.

        The head dimension is given as `rope.dimension_count` because sharktank derives its
        attention head dimension from it (its own default, 128, would be wrong for small models).
        """
        prefix = SHARKTANK_ARCHITECTURE
        return {
            "general.architecture": prefix,
            f"{prefix}.vocab_size": self.vocab_size,
            f"{prefix}.context_length": self.context_length,
            f"{prefix}.embedding_length": self.hidden_size,
            f"{prefix}.feed_forward_length": self.intermediate_size,
            f"{prefix}.block_count": self.layer_count,
            f"{prefix}.attention.head_count": self.head_count,
            f"{prefix}.attention.head_count_kv": self.kv_head_count,
            f"{prefix}.attention.key_length": self.head_dim,
            f"{prefix}.attention.value_length": self.head_dim,
            f"{prefix}.attention.layer_norm_rms_epsilon": float(self.rms_norm_epsilon),
            f"{prefix}.rope.dimension_count": self.head_dim,
            f"{prefix}.rope.freq_base": float(self.rope_freq_base),
            f"{prefix}.rope.interleave_emb": self.rope_interleaved,
        }


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One tensor the model needs: its sharktank (GGUF-style) name and logical [out, in] shape."""

    name: str
    shape: tuple[int, ...]

    @property
    def is_norm(self) -> bool:
        return self.name.endswith("norm.weight")


@dataclasses.dataclass(frozen=True)
class BiasOptions:
    """Which optional bias tensors a checkpoint has (Qwen2: q/k/v; Llama: its attention_bias and
    mlp_bias options)."""

    attention_qkv: bool = False
    attention_output: bool = False
    mlp: bool = False


def expected_tensors(
    hyper_parameters: LlamaHyperParameters,
    *,
    biases: BiasOptions = BiasOptions(),
    include_output: bool = True,
) -> list[TensorSpec]:
    """The tensors, in a fixed order, that sharktank's PagedLlmModelV1 reads for this model.

    `include_output=False` leaves out `output.weight`, for checkpoints with tied embeddings whose
    reader derives it from `token_embd.weight`.
    """
    hp = hyper_parameters
    q_size = hp.head_count * hp.head_dim
    kv_size = hp.kv_head_count * hp.head_dim
    specs = [TensorSpec("token_embd.weight", (hp.vocab_size, hp.hidden_size))]
    for layer in range(hp.layer_count):
        block = f"blk.{layer}"
        specs += [
            TensorSpec(f"{block}.attn_norm.weight", (hp.hidden_size,)),
            TensorSpec(f"{block}.attn_q.weight", (q_size, hp.hidden_size)),
            TensorSpec(f"{block}.attn_k.weight", (kv_size, hp.hidden_size)),
            TensorSpec(f"{block}.attn_v.weight", (kv_size, hp.hidden_size)),
        ]
        if biases.attention_qkv:
            specs += [
                TensorSpec(f"{block}.attn_q.bias", (q_size,)),
                TensorSpec(f"{block}.attn_k.bias", (kv_size,)),
                TensorSpec(f"{block}.attn_v.bias", (kv_size,)),
            ]
        specs.append(TensorSpec(f"{block}.attn_output.weight", (hp.hidden_size, q_size)))
        if biases.attention_output:
            specs.append(TensorSpec(f"{block}.attn_output.bias", (hp.hidden_size,)))
        specs += [
            TensorSpec(f"{block}.ffn_norm.weight", (hp.hidden_size,)),
            TensorSpec(f"{block}.ffn_gate.weight", (hp.intermediate_size, hp.hidden_size)),
            TensorSpec(f"{block}.ffn_up.weight", (hp.intermediate_size, hp.hidden_size)),
            TensorSpec(f"{block}.ffn_down.weight", (hp.hidden_size, hp.intermediate_size)),
        ]
        if biases.mlp:
            specs += [
                TensorSpec(f"{block}.ffn_gate.bias", (hp.intermediate_size,)),
                TensorSpec(f"{block}.ffn_up.bias", (hp.intermediate_size,)),
                TensorSpec(f"{block}.ffn_down.bias", (hp.hidden_size,)),
            ]
    specs.append(TensorSpec("output_norm.weight", (hp.hidden_size,)))
    if include_output:
        specs.append(TensorSpec("output.weight", (hp.vocab_size, hp.hidden_size)))
    return specs


def check_shape(
    source: Path, spec: TensorSpec, actual_shape: tuple[int, ...], *, file_tensor_name: str
) -> None:
    """Raises CheckpointError naming the file and the tensor (as the file names it) when
    `actual_shape` is not `spec.shape`."""
    if tuple(actual_shape) != spec.shape:
        raise CheckpointError(
            source,
            f"has shape {list(actual_shape)} but the model's hyper-parameters need "
            f"{list(spec.shape)} (for {spec.name}).",
            tensor=file_tensor_name,
            fix="the tensor and the configuration disagree; use a matching configuration "
            "or an uncorrupted checkpoint.",
        )


def permute_for_interleaved_rope(weight, head_count: int):
    """Reorders the rows of a q or k projection from the Hugging Face "rotate half" layout
    (rotary pairs (i, i + d/2) in each head) to the interleaved layout of GGUF files
    (pairs (2i, 2i + 1)). `weight` is a numpy array or a torch tensor [rows, columns]."""
    rows, columns = weight.shape
    head_dim = rows // head_count
    return (
        weight.reshape(head_count, 2, head_dim // 2, columns)
        .swapaxes(1, 2)
        .reshape(rows, columns)
    )
