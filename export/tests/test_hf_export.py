"""Tiny Hugging Face Llama and Qwen2 checkpoints, exported, compiled for llvm-cpu and run with
iree.runtime, against transformers' own models on the same weights."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from export import testing
from export.export_llm import main

# Tolerances on logits (absolute; logits here are of magnitude ~3).
# float32: IREE reorders the reductions (tiled matmuls, softmax sums over 16-128 elements) and uses
# its own exp/rsqrt approximations; over 2 layers that gives ~2e-6 on this model. 1e-4 leaves a
# wide margin, while a wrong rotary layout, norm or bias mapping moves logits by 1e-1 or more
# (a wrong rotary layout measured 1.76).
FLOAT32_TOLERANCE = 1e-4
# float16: every activation is rounded to 11 bits (relative step ~1e-3); measured 4.4e-3 on this
# model, so 3e-2 is ~7x that and still 50x below the error of a wrong mapping.
FLOAT16_TOLERANCE = 3e-2
BLOCK_SEQ_STRIDE = 16
# 27 prompt tokens + 8 generated cross the page boundary at 32 during decode.
PROMPT = [int(token) for token in np.random.default_rng(7).integers(0, 320, size=27)]
GENERATED_TOKENS = 8


def export_and_compile(
    checkpoint: Path, output_directory: Path, *extra_flags: str
) -> testing.ExportedModelRunner:
    return testing.export_and_compile(
        checkpoint, output_directory, "--block-seq-stride", str(BLOCK_SEQ_STRIDE), *extra_flags
    )


def assert_matches_reference(
    runner: testing.ExportedModelRunner, checkpoint: Path, tolerance: float
) -> None:
    testing.assert_matches_reference(
        runner, testing.load_reference_model(checkpoint), PROMPT, GENERATED_TOKENS, tolerance
    )


@pytest.fixture(scope="module")
def llama_checkpoint(tmp_path_factory) -> Path:
    # With Llama's optional biases on every projection (attention_bias, mlp_bias); the GGUF
    # test covers Llama without them.
    return testing.write_tiny_hf_checkpoint(
        tmp_path_factory.mktemp("llama") / "checkpoint",
        "llama",
        seed=0,
        rope_theta=50000.0,
        attention_bias=True,
        mlp_bias=True,
    )


@pytest.fixture(scope="module")
def qwen2_checkpoint(tmp_path_factory) -> Path:
    return testing.write_tiny_hf_checkpoint(
        tmp_path_factory.mktemp("qwen2") / "checkpoint",
        "qwen2",
        tie_word_embeddings=True,
        seed=1,
        rope_theta=1000000.0,
    )


@pytest.fixture(scope="module")
def llama_export(llama_checkpoint, tmp_path_factory) -> tuple[Path, testing.ExportedModelRunner]:
    directory = tmp_path_factory.mktemp("llama_export")
    runner = export_and_compile(llama_checkpoint, directory, "--activation-dtype", "float32")
    return directory, runner


def test_llama_float32_matches_transformers(llama_checkpoint, llama_export):
    _, runner = llama_export
    assert_matches_reference(runner, llama_checkpoint, FLOAT32_TOLERANCE)


def test_qwen2_tied_float32_matches_transformers(qwen2_checkpoint, tmp_path):
    runner = export_and_compile(qwen2_checkpoint, tmp_path, "--activation-dtype", "float32")
    assert_matches_reference(runner, qwen2_checkpoint, FLOAT32_TOLERANCE)


def test_qwen2_default_float16_with_shorter_context_matches_transformers(
    qwen2_checkpoint, tmp_path
):
    runner = export_and_compile(qwen2_checkpoint, tmp_path, "--context-length", "128")
    config = json.loads((tmp_path / "model_config.json").read_text())
    assert config["max_seq_len"] == 128
    # Default KV-cache size: pages for one sequence of the served context (128 / 16).
    assert config["paged_kv_cache"]["device_block_count"] == 8
    assert config["paged_kv_cache"]["kv_cache_dtype"] == "float16"
    assert_matches_reference(runner, qwen2_checkpoint, FLOAT16_TOLERANCE)


def test_export_is_byte_identical_across_runs(llama_checkpoint, llama_export, tmp_path):
    first_directory, _ = llama_export
    exit_code = main(
        [
            "--checkpoint", str(llama_checkpoint),
            "--output-mlir", str(tmp_path / "again.mlir"),
            "--output-irpa", str(tmp_path / "again.irpa"),
            "--output-config", str(tmp_path / "again.json"),
            "--block-seq-stride", str(BLOCK_SEQ_STRIDE),
            "--activation-dtype", "float32",
        ]
    )
    assert exit_code == 0

    def sha256(path: Path) -> str:
        return hashlib.sha256(path.read_bytes()).hexdigest()

    assert sha256(tmp_path / "again.mlir") == sha256(first_directory / "model.mlir")
    assert sha256(tmp_path / "again.irpa") == sha256(first_directory / "model.irpa")
    assert sha256(tmp_path / "again.json") == sha256(first_directory / "model_config.json")
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "again.irpa", "again.json", "again.mlir"
    ], "temporary files were left behind"
