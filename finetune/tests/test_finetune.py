"""The fine-tune mechanism on a tiny Llama with SmolLM2's tokenizer: adapters, merge, GGUF, tool."""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from export import testing
from finetune import gguf_merge, lora
from passlib.training_data import label, records
from passlib.training_data.candidate import Candidate
from tools.shipped_model_files import smollm2_gguf

_PROGRAMS = {
    "identity-and-duplicate": """func.func @main(%arg0: i32, %arg1: i32) -> i32 {
  %c1 = arith.constant 1 : i32
  %0 = arith.muli %arg0, %c1 : i32
  %1 = arith.addi %0, %arg1 : i32
  %2 = arith.addi %0, %arg1 : i32
  %3 = arith.muli %1, %2 : i32
  return %3 : i32
}""",
    "helper-calls": """func.func private @square(%arg0: f32) -> f32 {
  %0 = arith.mulf %arg0, %arg0 : f32
  return %0 : f32
}
func.func @main(%arg0: f32) -> f32 {
  %0 = call @square(%arg0) : (f32) -> f32
  %1 = call @square(%arg0) : (f32) -> f32
  %2 = arith.addf %0, %1 : f32
  return %2 : f32
}""",
}


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> pathlib.Path:
    directory = tmp_path_factory.mktemp("tiny")
    hf = testing.write_tiny_hf_checkpoint(directory / "hf", "llama", tie_word_embeddings=True, vocab_size=49152,
                                          max_position_embeddings=2048)
    return testing.write_llama_gguf_from_hf(hf, directory / "tiny.gguf", matrix_type="Q4_1",
                                            tokenizer_from=smollm2_gguf())


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory) -> pathlib.Path:
    floor_ = label.labeller(30)
    pairs = [pair for name, text in _PROGRAMS.items()
             for pair in label.label(Candidate(name, "hand-written", text), floor_)]
    assert {pair.mode for pair in pairs} == {records.SCHEDULE, records.REWRITE}
    path = tmp_path_factory.mktemp("data") / "pairs.jsonl"
    records.write_pairs(path, pairs)
    return path


def _load(path: pathlib.Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, torch_dtype=torch.float32)


def test_adapter_starts_at_the_base_and_merges_exactly():
    torch.manual_seed(0)
    base = nn.Linear(64, 32)
    x = torch.randn(5, 64)
    expected = base(x).detach()
    model = nn.Sequential()
    model.add_module("q_proj", base)
    assert lora.add_adapters(model, rank=4, alpha=8, seed=1) == ["q_proj"]
    wrapped = model.q_proj
    assert torch.equal(wrapped(x), expected)  # B starts at zero
    with torch.no_grad():
        wrapped.lora_b.copy_(torch.randn(32, 4))
    adapted = wrapped(x).detach()
    assert not torch.allclose(adapted, expected)
    assert lora.adapter_parameters(model) == [wrapped.lora_a, wrapped.lora_b]
    assert lora.merge_adapters(model) == ["q_proj"]
    assert isinstance(model.q_proj, nn.Linear)
    torch.testing.assert_close(model.q_proj(x), adapted, rtol=1e-5, atol=1e-5)


def test_merged_gguf_holds_the_changed_weights_in_llama_cpp_layout(tiny_gguf, tmp_path):
    model = _load(tiny_gguf)
    changed = {"model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight",
               "model.layers.1.mlp.down_proj.weight"}
    generator = torch.Generator().manual_seed(3)
    state = model.state_dict()
    with torch.no_grad():
        for name in changed:
            state[name] += 0.05 * torch.randn(state[name].shape, generator=generator)
    for merged_type, tolerance in (("F32", 0.0), ("Q8_0", 1.0 / 127)):
        output = tmp_path / f"merged-{merged_type}.gguf"
        replaced = gguf_merge.write_merged_gguf(tiny_gguf, output, state, changed, merged_type=merged_type,
                                                extra_metadata={"note": "test"})
        assert sorted(replaced) == ["blk.0.attn_q.weight", "blk.1.attn_k.weight", "blk.1.ffn_down.weight"]
        reloaded = _load(output).state_dict()
        for name, value in state.items():
            if name not in reloaded:
                continue
            difference = (reloaded[name] - value).abs().max().item()
            if name in changed:
                # Q8_0: half a step of each block's largest magnitude / 127 (a wrong row order is ~0.3).
                assert difference <= tolerance * value.abs().max().item() + 1e-6, (name, merged_type)
            else:
                assert difference == 0.0, name  # untouched tensors keep their bytes


def _run_tool(base: pathlib.Path, data: pathlib.Path, directory: pathlib.Path, seed: int) -> pathlib.Path:
    directory.mkdir()
    output = directory / "tuned.gguf"
    command = [sys.executable, "-m", "finetune.finetune_tool", "--base", str(base), "--data", str(data),
               "--output", str(output), "--loss-curve", str(directory / "loss.json"), "--context-length", "2048",
               "--steps", "4", "--rank", "4", "--alpha", "8", "--learning-rate", "5e-3", "--seed", str(seed),
               "--log-every", "2"]
    completed = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "step 4/4" in completed.stderr and "tokens/s" in completed.stderr and "ETA" in completed.stderr
    return output


def test_two_clean_runs_give_identical_bytes(tiny_gguf, pairs_file, tmp_path):
    first = _run_tool(tiny_gguf, pairs_file, tmp_path / "first", seed=0)
    second = _run_tool(tiny_gguf, pairs_file, tmp_path / "second", seed=0)
    other_seed = _run_tool(tiny_gguf, pairs_file, tmp_path / "third", seed=1)
    digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()  # noqa: E731
    assert digest(first) == digest(second)
    assert (tmp_path / "first" / "loss.json").read_bytes() == (tmp_path / "second" / "loss.json").read_bytes()
    assert digest(first) != digest(other_seed)
    assert digest(first) != digest(tiny_gguf)


def test_training_lowers_the_loss_on_its_data(tiny_gguf, pairs_file):
    from tokenizers import Tokenizer

    from artifacts.generation_config import from_gguf
    from finetune import chat_examples, train

    generation, tokenizer_json = from_gguf(tiny_gguf)
    encoder = chat_examples.ChatEncoder(Tokenizer.from_str(tokenizer_json), generation)
    examples = chat_examples.chat_examples(records.read_pairs(pairs_file), encoder, max_length=2048,
                                           max_new_tokens=512)
    options = train.TrainingOptions(steps=30, learning_rate=1e-2, rank=8, alpha=16, warmup_steps=2, log_every=10)
    train.make_deterministic(options)
    result = train.train(_load(tiny_gguf), examples, options)
    losses = [record.loss for record in result.curve]
    assert np.mean(losses[-6:]) < 0.7 * np.mean(losses[:3]), losses
    assert len(result.merged_layers) == 2 * 7  # every projection of both blocks


def test_answer_tokens_are_the_answer_and_the_end_of_turn(tiny_gguf, pairs_file):
    from tokenizers import Tokenizer

    from artifacts.chat_template import render_model_chat
    from artifacts.generation_config import from_gguf
    from finetune import chat_examples

    generation, tokenizer_json = from_gguf(tiny_gguf)
    tokenizer = Tokenizer.from_str(tokenizer_json)
    encoder = chat_examples.ChatEncoder(tokenizer, generation)
    pair = records.read_pairs(pairs_file)[0]
    prompt = pair.prompt(encoder.count_tokens, chat_examples.prompt_budget(2048, 512))
    ids, start = encoder.encode_turn(prompt.messages(), pair.answer())
    assert tokenizer.decode(ids[:start], skip_special_tokens=False) == render_model_chat(
        generation, tokenizer.id_to_token, prompt.messages())
    assert ids[-1] in generation.stop_token_ids
    assert tokenizer.decode(ids[start:-1], skip_special_tokens=False) == pair.answer()


def test_answer_loss_is_transformers_loss_on_the_answer(tiny_gguf):
    from finetune import train
    from finetune.chat_examples import ChatExample

    model = _load(tiny_gguf)
    examples = [ChatExample("a", tuple(range(100, 140)), 30), ChatExample("b", tuple(range(200, 225)), 20)]
    ids, labels, mask = train._batch_tensors(examples, pad_id=2)
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        actual = train.answer_loss(model, ids, labels, mask)
    torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-5)
