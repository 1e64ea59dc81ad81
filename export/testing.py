"""Helpers for tests in this and other packages (a library, not a test).

- tiny synthetic Hugging Face checkpoints (Llama, Qwen2) with seeded random weights, and the
  transformers reference model that reads them back;
- a Llama GGUF file written from such a checkpoint (q/k permuted as llama.cpp's converter does);
- compiling an exported model for the host CPU with iree-compile;
- running the exported prefill/decode functions with iree.runtime (batch 1, greedy), and
  comparing them with transformers.
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import torch

from toolchains import iree_targets

TINY_MODEL_SIZES = {
    "vocab_size": 320,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}
HOST_COMPILE_FLAGS = tuple(iree_targets.compile_flags("llvm-cpu"))
# Standard deviation of the random weights: large enough that attention is far from uniform and
# logits are well separated, so that a wrong rotary layout, norm or bias mapping shows.
_WEIGHT_SCALE = 0.1


def tiny_hf_config(architecture: str, *, tie_word_embeddings: bool = False, **overrides):
    """A transformers config ("llama" or "qwen2") of TINY_MODEL_SIZES, updated by `overrides`."""
    from transformers import LlamaConfig, Qwen2Config

    config_classes = {"llama": LlamaConfig, "qwen2": Qwen2Config}
    settings = dict(TINY_MODEL_SIZES, tie_word_embeddings=tie_word_embeddings, **overrides)
    return config_classes[architecture](**settings)


def write_tiny_hf_checkpoint(
    directory: str | Path,
    architecture: str = "llama",
    *,
    tie_word_embeddings: bool = False,
    seed: int = 0,
    max_shard_size: str | None = None,
    dtype: torch.dtype | None = None,
    **config_overrides,
) -> Path:
    """Writes a tiny random model with save_pretrained(safe_serialization=True) and returns the
    directory. `max_shard_size` (e.g. "60KB") makes a sharded checkpoint with an index; `dtype`
    (e.g. torch.bfloat16) stores the weights in that dtype instead of float32; `config_overrides`
    replace TINY_MODEL_SIZES (all of them give a full-size model)."""
    from transformers import LlamaForCausalLM, Qwen2ForCausalLM

    model_classes = {"llama": LlamaForCausalLM, "qwen2": Qwen2ForCausalLM}
    config = tiny_hf_config(
        architecture, tie_word_embeddings=tie_word_embeddings, **config_overrides
    )
    torch.manual_seed(seed)
    model = model_classes[architecture](config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            noise = torch.randn(parameter.shape, generator=generator)
            if name.endswith("norm.weight"):
                parameter.copy_(1.0 + _WEIGHT_SCALE * noise)
            else:
                parameter.copy_(_WEIGHT_SCALE * noise)
    if dtype is not None:
        model = model.to(dtype)
        model.config.torch_dtype = dtype
    directory = Path(directory)
    save_options = {"safe_serialization": True}
    if max_shard_size is not None:
        save_options["max_shard_size"] = max_shard_size
    model.save_pretrained(directory, **save_options)
    return directory


def load_reference_model(directory: str | Path):
    """The transformers model of a checkpoint directory, float32, eval mode."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(directory, torch_dtype=torch.float32)
    return model.eval()


def reference_logits(model, tokens: list[int]) -> np.ndarray:
    """transformers' logits [len(tokens), vocab] for one sequence."""
    with torch.no_grad():
        output = model(torch.tensor([tokens], dtype=torch.int64))
    return output.logits[0].float().numpy()


def reference_greedy(model, prompt: list[int], count: int) -> list[int]:
    """transformers' greedy continuation of `prompt`, `count` tokens."""
    tokens = list(prompt)
    for _ in range(count):
        tokens.append(int(np.argmax(reference_logits(model, tokens)[-1])))
    return tokens[len(prompt) :]


def write_llama_gguf_from_hf(
    hf_directory: str | Path,
    gguf_path: str | Path,
    *,
    token_embedding_type: str = "Q8_0",
    matrix_type: str = "F32",
    tokenizer_from: str | Path | None = None,
) -> Path:
    """Writes a Llama GGUF file holding the weights of a Hugging Face Llama checkpoint.

    q/k rows are permuted to the interleaved layout, the embedding is stored as
    `token_embedding_type` ("F32", "F16" or "Q8_0"), the blocks' projection matrices as
    `matrix_type` ("F32" or a block type such as "Q4_1", as in SmolLM2's GGUF), and `output.weight`
    (F32) is left out when the checkpoint ties its embeddings, as in SmolLM2's GGUF.
    `tokenizer_from`: a GGUF file whose tokenizer.* keys (vocabulary, merges, special tokens, chat
    template) are copied, so that the tiny model has a real tokenizer (its vocab_size must match).
    """
    import gguf
    from safetensors.numpy import load_file

    from export.hf_checkpoint import hf_tensor_name
    from export.gguf_checkpoint import copy_gguf_metadata
    from export.llama_layout import permute_for_interleaved_rope

    hf_directory = Path(hf_directory)
    config = json.loads((hf_directory / "config.json").read_text())
    weights = load_file(hf_directory / "model.safetensors")
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    writer = gguf.GGUFWriter(str(gguf_path), "llama")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_rope_dimension_count(config["hidden_size"] // heads)
    writer.add_vocab_size(config["vocab_size"])
    if tokenizer_from is not None:
        copy_gguf_metadata(
            gguf.GGUFReader(str(tokenizer_from)), writer, lambda key: key.startswith("tokenizer.")
        )

    def add(name: str, data: np.ndarray, type_name: str = "F32") -> None:
        quant_type = gguf.GGMLQuantizationType[type_name]
        quantized = gguf.quants.quantize(data.astype(np.float32), quant_type)
        writer.add_tensor(name, quantized, raw_dtype=quant_type)

    add("token_embd.weight", weights["model.embed_tokens.weight"], token_embedding_type)
    for layer in range(config["num_hidden_layers"]):
        for local in ("attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm",
                      "ffn_gate", "ffn_up", "ffn_down"):
            name = f"blk.{layer}.{local}.weight"
            data = weights[hf_tensor_name(name)]
            if local == "attn_q":
                data = permute_for_interleaved_rope(data, heads)
            elif local == "attn_k":
                data = permute_for_interleaved_rope(data, kv_heads)
            add(name, data, "F32" if local.endswith("norm") else matrix_type)
    add("output_norm.weight", weights["model.norm.weight"])
    if not config.get("tie_word_embeddings", False):
        add("output.weight", weights["lm_head.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return Path(gguf_path)


def compile_for_target(
    mlir_path: str | Path, vmfb_path: str | Path, target_flags: tuple[str, ...]
) -> Path:
    """Compiles MLIR to a VMFB with iree-compile and the given target flags; raises with the
    compiler's error output on failure."""
    from iree.compiler.tools.binaries import find_tool

    command = [find_tool("iree-compile"), str(mlir_path), *target_flags, "-o", str(vmfb_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"iree-compile failed ({result.returncode}):\n{result.stderr[-4000:]}")
    return Path(vmfb_path)


def compile_for_host(mlir_path: str | Path, vmfb_path: str | Path) -> Path:
    """Compiles MLIR to a VMFB for this machine's CPU (llvm-cpu)."""
    return compile_for_target(mlir_path, vmfb_path, HOST_COMPILE_FLAGS)


class ExportedModelRunner:
    """Runs an exported model's prefill_bs1/decode_bs1 with iree.runtime on the local CPU.

    One sequence at a time: it owns pages 0..n-1 of the KV cache, which lives on the device
    between calls (the exported functions update it in place).
    """

    def __init__(self, vmfb_path: str | Path, irpa_path: str | Path, config_path: str | Path):
        import iree.runtime as runtime

        config = json.loads(Path(config_path).read_text())
        cache_config = config["paged_kv_cache"]
        self.block_seq_stride: int = cache_config["block_seq_stride"]
        self.page_count: int = cache_config["device_block_count"]
        # numpy storage type and IREE element type of the cache (numpy has no bfloat16).
        cache_types = {
            "float16": (np.float16, runtime.HalElementType.FLOAT_16),
            "float32": (np.float32, runtime.HalElementType.FLOAT_32),
            "bfloat16": (np.uint16, runtime.HalElementType.BFLOAT_16),
        }
        if cache_config["kv_cache_dtype"] not in cache_types:
            raise ValueError(f"KV cache dtype {cache_config['kv_cache_dtype']} is not supported")
        cache_dtype, cache_element_type = cache_types[cache_config["kv_cache_dtype"]]
        page_elements = cache_config["paged_kv_block_size_elements_per_device"][0]

        self._runtime_config = runtime.Config("local-sync")
        instance = self._runtime_config.vm_instance
        parameter_index = runtime.ParameterIndex()
        parameter_index.load(str(irpa_path))
        parameters = runtime.create_io_parameters_module(
            instance, parameter_index.create_provider(scope="model")
        )
        hal = runtime.create_hal_module(instance, self._runtime_config.device)
        program = runtime.VmModule.mmap(instance, str(vmfb_path))
        modules = runtime.load_vm_modules(
            parameters, hal, program, config=self._runtime_config
        )
        self._module = modules[-1]
        device = self._runtime_config.device
        zeros = np.zeros((self.page_count, page_elements), dtype=cache_dtype)
        # (runtime.asdevicearray would type the buffer from the numpy dtype and lose bfloat16.)
        cache_view = device.allocator.allocate_buffer_copy(
            memory_type=runtime.MemoryType.DEVICE_LOCAL,
            allowed_usage=runtime.BufferUsage.DEFAULT,
            device=device,
            buffer=zeros,
            element_type=cache_element_type,
        )
        self._cache = runtime.DeviceArray(device, cache_view, override_dtype=zeros.dtype)

    def _page_ids(self, token_count: int) -> np.ndarray:
        # The exported functions accept 2 pages or more.
        pages = max(2, math.ceil(token_count / self.block_seq_stride))
        if pages > self.page_count:
            raise ValueError(
                f"{token_count} tokens need {pages} pages; the cache has {self.page_count}"
            )
        return np.arange(pages, dtype=np.int64)[None, :]

    def prefill(self, tokens: list[int], function: str = "prefill_bs1") -> np.ndarray:
        """Logits [len(tokens), vocab] (float32) of a prompt; fills the KV cache. With
        function="prefill_last_bs1" (exported with --prefill-last-position): [1, vocab], the last
        position's."""
        page_ids = self._page_ids(len(tokens))
        padded = np.zeros((1, page_ids.shape[1] * self.block_seq_stride), dtype=np.int64)
        padded[0, : len(tokens)] = tokens
        seq_lens = np.array([len(tokens)], dtype=np.int64)
        logits = self._module[function](padded, seq_lens, page_ids, self._cache)
        return np.asarray(logits.to_host())[0, : len(tokens)].astype(np.float32)

    def prefill_from(self, tokens: list[int], start: int) -> np.ndarray:
        """Logits [vocab] (float32) of the last of `tokens` from prefill_from_bs1 (exported with
        --prefill-from-position), which prefills tokens[start:] over pages that already hold the
        keys and values of tokens[:start] (`start` a multiple of the page size); fills the rest."""
        chunk_pages = max(2, math.ceil((len(tokens) - start) / self.block_seq_stride))
        page_ids = self._page_ids(start + chunk_pages * self.block_seq_stride)
        padded = np.zeros((1, chunk_pages * self.block_seq_stride), dtype=np.int64)
        padded[0, : len(tokens) - start] = tokens[start:]
        logits = self._module["prefill_from_bs1"](
            padded, np.array([start], dtype=np.int64), np.array([len(tokens)], dtype=np.int64), page_ids, self._cache
        )
        return np.asarray(logits.to_host())[0, -1].astype(np.float32)

    def decode(self, token: int, position: int) -> np.ndarray:
        """Logits [vocab] (float32) after `token` at 0-based `position`; extends the KV cache."""
        page_ids = self._page_ids(position + 1)
        logits = self._module["decode_bs1"](
            np.array([[token]], dtype=np.int64),
            np.array([position + 1], dtype=np.int64),
            np.array([position], dtype=np.int64),
            page_ids,
            self._cache,
        )
        return np.asarray(logits.to_host())[0, 0].astype(np.float32)

    def greedy(self, prompt: list[int], count: int) -> tuple[list[int], list[np.ndarray]]:
        """Greedy continuation (`count` tokens) and the logits each token was chosen from."""
        step_logits = [self.prefill(prompt)[-1]]
        generated = [int(np.argmax(step_logits[-1]))]
        while len(generated) < count:
            position = len(prompt) + len(generated) - 1
            step_logits.append(self.decode(generated[-1], position))
            generated.append(int(np.argmax(step_logits[-1])))
        return generated, step_logits


def export_and_compile(
    checkpoint: str | Path, output_directory: str | Path, *export_flags: str
) -> ExportedModelRunner:
    """Runs the export CLI (model.mlir/.irpa/model_config.json in `output_directory`), compiles
    model.vmfb for the host and returns a runner over them."""
    from export.export_llm import main

    output_directory = Path(output_directory)
    output_directory.mkdir(parents=True, exist_ok=True)
    exit_code = main(
        [
            "--checkpoint", str(checkpoint),
            "--output-mlir", str(output_directory / "model.mlir"),
            "--output-irpa", str(output_directory / "model.irpa"),
            "--output-config", str(output_directory / "model_config.json"),
            *export_flags,
        ]
    )
    if exit_code != 0:
        raise RuntimeError(f"export of {checkpoint} failed with exit code {exit_code}")
    compile_for_host(output_directory / "model.mlir", output_directory / "model.vmfb")
    return ExportedModelRunner(
        output_directory / "model.vmfb",
        output_directory / "model.irpa",
        output_directory / "model_config.json",
    )


def assert_matches_reference(
    runner: ExportedModelRunner,
    reference_model,
    prompt: list[int],
    generated_count: int,
    tolerance: float,
) -> None:
    """Asserts that prefill logits, the logits of every decode step (absolute `tolerance`) and
    the greedy tokens agree with transformers. Tokens are compared up to the first step where
    the reference's top two logits are within 2 x tolerance (a near tie either side may take)."""
    np.testing.assert_allclose(
        runner.prefill(prompt), reference_logits(reference_model, prompt), rtol=0, atol=tolerance
    )
    generated, step_logits = runner.greedy(prompt, generated_count)
    expected_tokens = reference_greedy(reference_model, prompt, generated_count)
    expected_logits = reference_logits(reference_model, prompt + expected_tokens)
    for step, logits in enumerate(step_logits):
        expected = expected_logits[len(prompt) - 1 + step]
        np.testing.assert_allclose(
            logits, expected, rtol=0, atol=tolerance, err_msg=f"decode step {step}"
        )
        second, first = np.sort(expected)[-2:]
        if first - second <= 2 * tolerance:
            break
        assert generated[step] == expected_tokens[step], (
            f"greedy token {step}: {generated} != {expected_tokens}"
        )
