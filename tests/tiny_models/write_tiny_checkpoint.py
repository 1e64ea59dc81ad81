"""Writes a tiny random Hugging Face checkpoint (config, safetensors, tokenizer.json) for tests.

The model comes from export.testing (a few layers, random weights from a fixed seed); the tokenizer
is a byte-level BPE trained on a fixed text with exactly the model's vocabulary size, so a bundle
built from the directory is complete. Two runs give byte-identical files.

    python tests/tiny_models/write_tiny_checkpoint.py --architecture qwen2 --output-dir DIR
"""

import argparse
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from export import testing

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
TRAINING_TEXT = [
    "func.func @main(%arg0: tensor<4xf32>) -> tensor<4xf32> { return %arg0 : tensor<4xf32> }",
    "The quick brown fox jumps over the lazy dog. 0123456789",
    "def add(a, b):\n    return a + b\n",
    "arith.addf arith.mulf arith.constant dense<1.0> : tensor<4xf32>",
]


def write_tokenizer(path: Path, vocab_size: int) -> None:
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(TRAINING_TEXT, trainer=trainer)
    if tokenizer.get_vocab_size() != vocab_size:
        raise RuntimeError(f"trained {tokenizer.get_vocab_size()} tokens, wanted {vocab_size}")
    tokenizer.save(str(path))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--architecture", choices=["llama", "qwen2"], required=True)
    parser.add_argument("--output-dir", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    directory = testing.write_tiny_hf_checkpoint(
        args.output_dir,
        args.architecture,
        tie_word_embeddings=args.architecture == "qwen2",
        seed=args.seed,
    )
    config = testing.tiny_hf_config(args.architecture)
    write_tokenizer(directory / "tokenizer.json", config.vocab_size)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
