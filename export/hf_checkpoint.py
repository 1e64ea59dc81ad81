"""Reads a Hugging Face checkpoint directory (config.json + safetensors) into a sharktank Dataset.

Supported: `LlamaForCausalLM` and `Qwen2ForCausalLM` (q/k/v biases, rope theta, grouped-query
attention, tied embeddings), with one `model.safetensors` or shards listed in
`model.safetensors.index.json`. Tensors are renamed to the GGUF-style names sharktank's Llama model
reads. Hugging Face keeps q/k in the "rotate half" layout, so the weights are used as they are and
the dataset says `rope.interleave_emb = False`, which makes sharktank's rotary embedding pair
dimension i with i + head_dim/2, as transformers does.

Everything that can be checked from config.json and the safetensors headers (architecture, every
tensor's presence, shape and dtype, file integrity) is checked before any tensor data is read.

Every shard the index names must lie inside the checkpoint directory: a relative path without
"..", whose directories resolve inside it. The shard file itself may be a symbolic link (Bazel's
sandbox and external repositories, and the Hugging Face cache, present every file as one); its
bytes are part of the source digest all the same, which hashes the files under the directory with
symbolic links to files followed (artifacts/bundle.py: checkpoint_sha256).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path, PurePosixPath

import torch
from safetensors import safe_open
from sharktank.types import Dataset, DefaultPrimitiveTensor, Theta
from transformers import LlamaConfig, PretrainedConfig, Qwen2Config

from export.errors import CheckpointError
from export.llama_layout import (
    BiasOptions,
    LlamaHyperParameters,
    TensorSpec,
    check_shape,
    expected_tensors,
)

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM")
CONFIG_FILE = "config.json"
SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
# config.json and the index are kilobytes (the index of a model in a thousand shards is about
# 100 KB); a larger file is no checkpoint's JSON, and reading it would only take memory.
MAX_JSON_BYTES = 16 << 20

# Hugging Face name of each sharktank tensor, per layer ("{layer}" is filled in) and global.
_LAYER_TENSOR_NAMES = {
    "attn_norm.weight": "input_layernorm.weight",
    "attn_q.weight": "self_attn.q_proj.weight",
    "attn_k.weight": "self_attn.k_proj.weight",
    "attn_v.weight": "self_attn.v_proj.weight",
    "attn_q.bias": "self_attn.q_proj.bias",
    "attn_k.bias": "self_attn.k_proj.bias",
    "attn_v.bias": "self_attn.v_proj.bias",
    "attn_output.weight": "self_attn.o_proj.weight",
    "attn_output.bias": "self_attn.o_proj.bias",
    "ffn_norm.weight": "post_attention_layernorm.weight",
    "ffn_gate.weight": "mlp.gate_proj.weight",
    "ffn_up.weight": "mlp.up_proj.weight",
    "ffn_down.weight": "mlp.down_proj.weight",
    "ffn_gate.bias": "mlp.gate_proj.bias",
    "ffn_up.bias": "mlp.up_proj.bias",
    "ffn_down.bias": "mlp.down_proj.bias",
}
_GLOBAL_TENSOR_NAMES = {
    "token_embd.weight": "model.embed_tokens.weight",
    "output_norm.weight": "model.norm.weight",
    "output.weight": "lm_head.weight",
}
# Tensors some checkpoints carry that the model recomputes (old transformers saved these buffers).
_IGNORED_TENSOR_SUFFIXES = ("rotary_emb.inv_freq",)
_FLOAT_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


@dataclasses.dataclass(frozen=True)
class HfModelDescription:
    """What config.json says about the model, in the exporter's terms."""

    architecture: str
    hyper_parameters: LlamaHyperParameters
    biases: BiasOptions
    tied_embeddings: bool


@dataclasses.dataclass(frozen=True)
class _StoredTensor:
    """Where one tensor lives and what its safetensors header says."""

    file: Path
    shape: tuple[int, ...]
    dtype: str


def hf_tensor_name(sharktank_name: str) -> str:
    """The Hugging Face name of a sharktank (GGUF-style) tensor name, e.g. blk.3.attn_q.weight."""
    if sharktank_name in _GLOBAL_TENSOR_NAMES:
        return _GLOBAL_TENSOR_NAMES[sharktank_name]
    _, layer, local_name = sharktank_name.split(".", 2)
    return f"model.layers.{layer}.{_LAYER_TENSOR_NAMES[local_name]}"


def describe_model(directory: Path) -> HfModelDescription:
    """Reads and checks config.json (with transformers' own config classes, so that missing keys
    take the same defaults as in transformers)."""
    config_path = directory / CONFIG_FILE
    if not config_path.is_file():
        raise CheckpointError(
            directory,
            f"has no {CONFIG_FILE}.",
            fix="point --checkpoint at a Hugging Face model directory (config.json + "
            "*.safetensors) or at a .gguf file.",
        )
    raw_config = _read_json_object(config_path)
    architectures = raw_config.get("architectures") or []
    architecture = architectures[0] if len(architectures) == 1 else None
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise CheckpointError(
            config_path,
            f"architecture {architectures} (model_type {raw_config.get('model_type')!r}) is not "
            f"supported; supported: {', '.join(SUPPORTED_ARCHITECTURES)}.",
            fix="export a Llama-family or Qwen2 checkpoint.",
        )
    config = _transformers_config(architecture, raw_config, config_path)

    if config.hidden_act != "silu":
        raise CheckpointError(
            config_path,
            f"hidden_act {config.hidden_act!r} is not supported (sharktank's Llama FFN uses silu).",
        )
    rope_scaling = config.rope_scaling or {}
    rope_type = rope_scaling.get("rope_type", rope_scaling.get("type", "default"))
    if rope_type != "default":
        raise CheckpointError(
            config_path,
            f"rope_scaling {rope_scaling} is not supported; only plain rotary embeddings are.",
        )
    if architecture == "Qwen2ForCausalLM" and config.use_sliding_window:
        raise CheckpointError(
            config_path,
            "use_sliding_window = true is not supported.",
            fix="export with sliding-window attention disabled in config.json, as Qwen2 ships it.",
        )

    head_count = config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // max(head_count, 1)
    hyper_parameters = LlamaHyperParameters(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        layer_count=config.num_hidden_layers,
        head_count=head_count,
        kv_head_count=config.num_key_value_heads or head_count,
        head_dim=head_dim,
        rms_norm_epsilon=float(config.rms_norm_eps),
        rope_freq_base=float(config.rope_theta),
        context_length=config.max_position_embeddings,
        rope_interleaved=False,
    )
    hyper_parameters.validate(config_path)
    if architecture == "Qwen2ForCausalLM":
        biases = BiasOptions(attention_qkv=True)
    else:
        attention_bias = bool(config.attention_bias)
        biases = BiasOptions(
            attention_qkv=attention_bias,
            attention_output=attention_bias,
            mlp=bool(getattr(config, "mlp_bias", False)),
        )
    return HfModelDescription(
        architecture=architecture,
        hyper_parameters=hyper_parameters,
        biases=biases,
        tied_embeddings=bool(config.tie_word_embeddings),
    )


def load_hf_checkpoint(directory: Path, *, dtype: torch.dtype) -> Dataset:
    """Reads a Hugging Face checkpoint directory into a sharktank Dataset.

    Matrices, biases and embeddings are converted to `dtype` (the activation dtype, so that no
    cast happens at run time and biases do not promote activations); norm weights stay float32,
    as in GGUF files.
    """
    directory = Path(directory)
    description = describe_model(directory)
    stored = _read_safetensors_headers(directory)
    specs = expected_tensors(
        description.hyper_parameters,
        biases=description.biases,
        include_output=not description.tied_embeddings,
    )
    _check_tensors(directory, specs, stored, description.tied_embeddings)

    tensors: dict[str, DefaultPrimitiveTensor] = {}
    handles = {}
    for spec in specs:
        name = hf_tensor_name(spec.name)
        location = stored[name]
        if location.file not in handles:
            handles[location.file] = _open_safetensors(location.file)
        data = handles[location.file].get_tensor(name)
        target_dtype = torch.float32 if spec.is_norm else dtype
        tensors[spec.name] = DefaultPrimitiveTensor(
            name=spec.name, data=data.to(target_dtype).contiguous()
        )
    if description.tied_embeddings:
        tensors["output.weight"] = DefaultPrimitiveTensor(
            name="output.weight", data=tensors["token_embd.weight"].as_torch().clone()
        )
    return Dataset(
        properties=description.hyper_parameters.to_dataset_properties(),
        root_theta=Theta(tensors),
    )


def _transformers_config(
    architecture: str, raw_config: dict, config_path: Path
) -> PretrainedConfig:
    config_class = {"LlamaForCausalLM": LlamaConfig, "Qwen2ForCausalLM": Qwen2Config}[architecture]
    try:
        return config_class.from_dict(raw_config)
    except (TypeError, ValueError, KeyError) as error:
        raise CheckpointError(
            config_path, f"is not a valid {config_class.__name__} ({error})."
        ) from error


def _open_safetensors(path: Path):
    """Opens a safetensors file (header checked against the file size, data memory-mapped)."""
    try:
        return safe_open(str(path), framework="pt")
    except Exception as error:  # safetensors raises its own SafetensorError (and OSError)
        raise CheckpointError(
            path,
            f"is not a readable safetensors file ({error}).",
            fix="the file is truncated or corrupt; download or copy it again.",
        ) from error


def _read_json_object(path: Path) -> dict:
    """The JSON object in `path` (at most MAX_JSON_BYTES); CheckpointError naming the file if the
    file is larger, unreadable, not JSON (nesting deeper than Python's recursion limit included) or
    not an object."""
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise CheckpointError(
                path,
                f"is {size} bytes; a checkpoint's JSON files are at most {MAX_JSON_BYTES}.",
                fix="point --checkpoint at a Hugging Face model directory as save_pretrained "
                "writes it.",
            )
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise CheckpointError(path, f"is not valid JSON ({error}).") from error
    if not isinstance(document, dict):
        raise CheckpointError(path, "does not hold a JSON object.")
    return document


def _index_weight_map(index_path: Path) -> dict[str, str]:
    """The index's map of tensor names to shard file names."""
    weight_map = _read_json_object(index_path).get("weight_map")
    if not isinstance(weight_map, dict) or not all(
        isinstance(file_name, str) for file_name in weight_map.values()
    ):
        raise CheckpointError(
            index_path,
            "is not a safetensors index: it needs a weight_map object of tensor names to shard "
            "file names.",
            fix=f"restore the {INDEX_FILE} that came with the shards.",
        )
    return weight_map


def _shard_path(directory: Path, index_path: Path, tensor: str, file_name: str) -> Path:
    """The shard the index names for `tensor`; CheckpointError unless it lies inside `directory`
    (see the module docstring)."""
    if not _is_inside(directory, file_name):
        raise CheckpointError(
            index_path,
            f"names the shard {file_name!r}, which lies outside the checkpoint directory "
            f"{directory}.",
            tensor=tensor,
            fix="the weight_map must name shard files inside the checkpoint directory by paths "
            "relative to it (e.g. model-00001-of-00002.safetensors); copy the shards there and "
            "name them so.",
        )
    return directory / file_name


def _is_inside(directory: Path, file_name: str) -> bool:
    """Whether `file_name` is a relative path without ".." whose directories resolve inside
    `directory` (symbolic links and loops among them included)."""
    relative = PurePosixPath(file_name)
    if not relative.parts or relative.is_absolute() or ".." in relative.parts or "\0" in file_name:
        return False
    try:
        return (directory / relative).parent.resolve().is_relative_to(directory.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python < 3.13)
        return False


def _safetensors_files(directory: Path) -> tuple[list[Path], dict[str, Path] | None]:
    """The safetensors files of a checkpoint, and the index's tensor-to-file map if sharded."""
    index_path = directory / INDEX_FILE
    if index_path.is_file():
        by_tensor = {
            name: _shard_path(directory, index_path, name, file_name)
            for name, file_name in _index_weight_map(index_path).items()
        }
        files = sorted(set(by_tensor.values()))
        for file in files:
            if not file.is_file():
                raise CheckpointError(
                    index_path,
                    f"lists shard {file.name}, which is missing from {directory}.",
                    fix="copy every shard the index lists.",
                )
        return files, by_tensor
    if (directory / SINGLE_FILE).is_file():
        return [directory / SINGLE_FILE], None
    # Regular files only: opening a named pipe would wait for a writer forever.
    candidates = sorted(path for path in directory.glob("*.safetensors") if path.is_file())
    if len(candidates) == 1:
        return candidates, None
    if candidates:
        raise CheckpointError(
            directory,
            f"has {len(candidates)} safetensors files but no {INDEX_FILE}.",
            fix=f"add the {INDEX_FILE} that came with the shards.",
        )
    raise CheckpointError(
        directory,
        "has no *.safetensors file (pytorch_model.bin checkpoints are not supported).",
        fix="convert the checkpoint with save_pretrained(..., safe_serialization=True).",
    )


def _read_safetensors_headers(directory: Path) -> dict[str, _StoredTensor]:
    """Every tensor's file, shape and dtype, from the headers only (no tensor data is read)."""
    files, index_map = _safetensors_files(directory)
    stored: dict[str, _StoredTensor] = {}
    for file in files:
        handle = _open_safetensors(file)
        for name in handle.keys():
            tensor_slice = handle.get_slice(name)
            stored[name] = _StoredTensor(
                file=file, shape=tuple(tensor_slice.get_shape()), dtype=tensor_slice.get_dtype()
            )
    if index_map is not None:
        for name, file in index_map.items():
            if name not in stored or stored[name].file != file:
                raise CheckpointError(
                    file,
                    f"does not hold this tensor although {INDEX_FILE} says it does.",
                    tensor=name,
                    fix="the shard and the index disagree; copy the checkpoint again.",
                )
    return stored


def _check_tensors(
    directory: Path,
    specs: list[TensorSpec],
    stored: dict[str, _StoredTensor],
    tied_embeddings: bool,
) -> None:
    """Checks presence, shape and dtype of every needed tensor, and that nothing is left over."""
    needed = set()
    for spec in specs:
        name = hf_tensor_name(spec.name)
        needed.add(name)
        if name not in stored:
            raise CheckpointError(
                directory,
                f"is missing from the checkpoint (needed as {spec.name}).",
                tensor=name,
                fix="the checkpoint is incomplete or does not match config.json.",
            )
        location = stored[name]
        check_shape(location.file, spec, location.shape, file_tensor_name=name)
        if location.dtype not in _FLOAT_DTYPES:
            raise CheckpointError(
                location.file,
                f"has dtype {location.dtype}; only {', '.join(_FLOAT_DTYPES)} are supported.",
                tensor=name,
                fix="export an unquantized (float) checkpoint.",
            )
    for name, location in sorted(stored.items()):
        if name in needed or name.endswith(_IGNORED_TENSOR_SUFFIXES):
            continue
        if tied_embeddings and name == _GLOBAL_TENSOR_NAMES["output.weight"]:
            continue  # transformers ties lm_head to the embeddings; the file copy is unused.
        raise CheckpointError(
            location.file,
            "is not part of a plain Llama/Qwen2 model as config.json describes it.",
            tensor=name,
            fix="the checkpoint has an architecture variant this exporter does not support, "
            "or config.json does not match the weights.",
        )
