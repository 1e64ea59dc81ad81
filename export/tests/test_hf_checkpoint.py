"""Reading Hugging Face checkpoints: sharded safetensors, and each way a checkpoint can be
rejected (with a message naming the file and the tensor) before any export work starts; the command
line's error and its progress log."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from export import testing
from export.checkpoint import load_checkpoint
from export.errors import CheckpointError
from export.export_llm import main


@pytest.fixture(scope="module")
def pristine_checkpoint(tmp_path_factory) -> Path:
    return testing.write_tiny_hf_checkpoint(
        tmp_path_factory.mktemp("pristine") / "llama", "llama", seed=5
    )


@pytest.fixture
def checkpoint(pristine_checkpoint, tmp_path) -> Path:
    """A private copy of the tiny checkpoint that a test may break."""
    return Path(shutil.copytree(pristine_checkpoint, tmp_path / "llama"))


def edit_config(checkpoint: Path, **changes) -> None:
    config_path = checkpoint / "config.json"
    config = json.loads(config_path.read_text())
    config.update(changes)
    config_path.write_text(json.dumps(config))


def cli_arguments(checkpoint: Path, output_directory: Path) -> list[str]:
    """export_llm's arguments that export `checkpoint` into `output_directory`."""
    return [
        "--checkpoint", str(checkpoint),
        "--output-mlir", str(output_directory / "model.mlir"),
        "--output-irpa", str(output_directory / "model.irpa"),
        "--output-config", str(output_directory / "model_config.json"),
    ]


def test_sharded_checkpoint_loads_like_single_file(pristine_checkpoint, tmp_path):
    sharded = testing.write_tiny_hf_checkpoint(
        tmp_path / "sharded", "llama", seed=5, max_shard_size="100KB"
    )
    shards = sorted(sharded.glob("*.safetensors"))
    assert (sharded / "model.safetensors.index.json").is_file() and len(shards) > 2

    single = load_checkpoint(pristine_checkpoint, dtype=torch.float32)
    from_shards = load_checkpoint(sharded, dtype=torch.float32)

    assert from_shards.properties == single.properties
    single_tensors = single.root_theta.flatten()
    shard_tensors = from_shards.root_theta.flatten()
    assert list(shard_tensors) == list(single_tensors)
    for name, tensor in single_tensors.items():
        assert torch.equal(shard_tensors[name].as_torch(), tensor.as_torch()), name


def test_hf_names_and_dtypes(checkpoint):
    dataset = load_checkpoint(checkpoint, dtype=torch.float16)
    tensors = dataset.root_theta.flatten()
    original = load_file(checkpoint / "model.safetensors")
    assert torch.equal(
        tensors["blk.1.attn_k.weight"].as_torch(),
        original["model.layers.1.self_attn.k_proj.weight"].to(torch.float16),
    )
    # Norm weights stay float32; everything else takes the activation dtype.
    assert tensors["blk.0.ffn_norm.weight"].as_torch().dtype == torch.float32
    assert tensors["output.weight"].as_torch().dtype == torch.float16
    assert dataset.properties["llama.rope.interleave_emb"] is False
    assert dataset.properties["llama.rope.dimension_count"] == 16


def test_unsupported_architecture(checkpoint):
    edit_config(checkpoint, architectures=["MistralForCausalLM"], model_type="mistral")
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(checkpoint, dtype=torch.float16)
    message = str(error.value)
    assert str(checkpoint / "config.json") in message
    assert "MistralForCausalLM" in message and "not supported" in message
    assert "LlamaForCausalLM, Qwen2ForCausalLM" in message


def test_missing_tensor(checkpoint):
    weights_path = checkpoint / "model.safetensors"
    weights = load_file(weights_path)
    del weights["model.layers.1.mlp.up_proj.weight"]
    save_file(weights, weights_path, metadata={"format": "pt"})
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(checkpoint, dtype=torch.float16)
    message = str(error.value)
    assert str(checkpoint) in message
    assert "tensor 'model.layers.1.mlp.up_proj.weight'" in message
    assert "missing" in message


def test_shape_mismatch(checkpoint):
    edit_config(checkpoint, intermediate_size=96)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(checkpoint, dtype=torch.float16)
    message = str(error.value)
    assert str(checkpoint / "model.safetensors") in message
    assert "tensor 'model.layers.0.mlp.gate_proj.weight'" in message
    assert "[128, 64]" in message and "[96, 64]" in message


def test_truncated_safetensors(checkpoint):
    weights_path = checkpoint / "model.safetensors"
    data = weights_path.read_bytes()
    weights_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(checkpoint, dtype=torch.float16)
    message = str(error.value)
    assert str(weights_path) in message
    assert "truncated or corrupt" in message


def test_missing_shard(tmp_path):
    sharded = testing.write_tiny_hf_checkpoint(
        tmp_path / "sharded", "llama", seed=5, max_shard_size="100KB"
    )
    missing = sorted(sharded.glob("*.safetensors"))[1]
    missing.unlink()
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(sharded, dtype=torch.float16)
    message = str(error.value)
    assert str(sharded / "model.safetensors.index.json") in message
    assert missing.name in message


def test_cli_reports_error_and_writes_nothing(checkpoint, tmp_path, capsys):
    edit_config(checkpoint, architectures=["GPT2LMHeadModel"], model_type="gpt2")
    output_directory = tmp_path / "out"
    output_directory.mkdir()
    exit_code = main(cli_arguments(checkpoint, output_directory))
    assert exit_code == 1
    assert "GPT2LMHeadModel" in capsys.readouterr().err
    assert list(output_directory.iterdir()) == []


def test_cli_writes_the_outputs_and_logs_each_step_with_its_seconds(pristine_checkpoint, tmp_path, capsys):
    exit_code = main(cli_arguments(pristine_checkpoint, tmp_path))
    assert exit_code == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.irpa", "model.mlir", "model_config.json"]
    log = capsys.readouterr().err
    for step in (f"reading {pristine_checkpoint}", "rewriting the weights", "saving the IRPA", "tracing prefill_bs1",
                 "tracing decode_bs1", "importing the traced functions into MLIR", "writing the MLIR"):
        assert re.search(rf"export_llm: {re.escape(step)}: \d+\.\d s", log), (step, log)
