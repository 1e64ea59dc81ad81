"""Builds a tiny but real bundle for runtime tests: a random 2-layer Llama (hidden 64, vocab 256),
exported by sharktank's export_paged_llm_v1 and compiled by iree-compile for llvm-cpu, with a byte-level
BPE tokenizer.json of exactly 256 tokens. The same path the real SmolLM2 bundle takes, in seconds.
"""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import torch
import tokenizers
from iree.compiler import compile_file
from sharktank.layers.configs import LlamaHParams, LlamaModelConfig
from sharktank.models.llama.testing import make_random_llama_theta
from sharktank.types import Dataset

from artifacts import bundle
from artifacts.generation_json import GenerationConfig
from toolchains import iree_targets

VOCABULARY_SIZE = 256
BLOCK_SEQ_STRIDE = 16
CONTEXT_LENGTH = 128
DEVICE_BLOCK_COUNT = 16
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<' + message['role'] + '>' + message['content'] + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<assistant>' }}{% endif %}"
)


@dataclasses.dataclass(frozen=True)
class ToyBundle:
    """A built toy bundle and what the eager reference needs."""

    directory: Path
    irpa: Path
    config: LlamaModelConfig


def toy_llama_config() -> LlamaModelConfig:
    head_count, head_dim = 4, 16
    return LlamaModelConfig(
        hp=LlamaHParams(
            model_arch="llama",
            vocab_size=VOCABULARY_SIZE,
            context_length=CONTEXT_LENGTH,
            embedding_length=head_count * head_dim,
            block_count=2,
            feed_forward_length=96,
            rope_dimension_count=head_dim,
            rope_freq_base=10000.0,
            attention_head_count=head_count,
            attn_head_dim=head_dim,
            attention_layer_norm_rms_epsilon=1e-5,
            attention_head_count_kv=2,
            expert_count=0,
            expert_used_count=0,
        ),
        block_seq_stride=BLOCK_SEQ_STRIDE,
        activation_dtype=torch.float32,
        attention_dtype=torch.float32,
        kv_cache_dtype=torch.float32,
    )


def byte_level_tokenizer() -> tokenizers.Tokenizer:
    """A byte-level BPE tokenizer with the 256 byte tokens and no merges (GPT-2's byte alphabet)."""
    alphabet = sorted(tokenizers.pre_tokenizers.ByteLevel.alphabet())
    vocabulary = {symbol: index for index, symbol in enumerate(alphabet)}
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE(vocab=vocabulary, merges=[]))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    return tokenizer


def build_toy_bundle(work_dir: Path, seed: int = 7) -> ToyBundle:
    """Exports, compiles and bundles the toy model under `work_dir`."""
    torch.manual_seed(seed)
    config = toy_llama_config()
    theta = make_random_llama_theta(config=config, dtype_rest=torch.float32, dtype_norm=torch.float32)
    bundle_dir = work_dir / "toy_cpu"
    bundle_dir.mkdir(parents=True)
    irpa = bundle_dir / bundle.MODEL_IRPA
    Dataset(properties=config.hp.to_gguf_props(), root_theta=theta).save(str(irpa))

    mlir = work_dir / "model.mlir"
    export = subprocess.run(
        [
            sys.executable,
            "-m",
            "sharktank.examples.export_paged_llm_v1",
            f"--irpa-file={irpa}",
            f"--output-mlir={mlir}",
            f"--output-config={bundle_dir / bundle.MODEL_CONFIG}",
            "--bs-prefill=1",
            "--bs-decode=1",
            f"--block-seq-stride={BLOCK_SEQ_STRIDE}",
            f"--device-block-count={DEVICE_BLOCK_COUNT}",
            "--activation-dtype=float32",
            "--attention-dtype=float32",
            "--kv-cache-dtype=float32",
        ],
        capture_output=True,
        text=True,
        # the child sees the packages this interpreter sees (under Bazel they are on sys.path only)
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    if export.returncode != 0:
        raise RuntimeError(f"sharktank export of the toy model failed:\n{export.stderr[-4000:]}")
    compile_file(
        str(mlir),
        output_file=str(bundle_dir / bundle.MODEL_VMFB),
        extra_args=iree_targets.compile_flags("llvm-cpu"),
    )
    tokenizer = byte_level_tokenizer()
    (bundle_dir / bundle.TOKENIZER_JSON).write_text(tokenizer.to_str())
    GenerationConfig(
        bos_token_id=None,
        eos_token_id=tokenizer.token_to_id("."),
        pad_token_id=None,
        stop_token_ids=(tokenizer.token_to_id("."),),
        add_bos_token=False,
        chat_template=CHATML_TEMPLATE,
        context_length=CONTEXT_LENGTH,
    ).save(bundle_dir / bundle.GENERATION_JSON)
    bundle.write_manifest(
        bundle_dir,
        bundle_name="toy_cpu",
        target="llvm-cpu",
        driver="local-task",
        source=bundle.SourceCheckpoint(name=f"random-llama-seed-{seed}", sha256=bundle.file_sha256(irpa)),
        build_label="//artifacts/tests:toy_cpu",
    )
    return ToyBundle(directory=bundle_dir, irpa=irpa, config=config)
