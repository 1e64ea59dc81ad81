"""Writes the tiny base model of the fine-tune's CI check: a 2-block random Llama (export.testing's
tiny sizes, Q4_1 matrices as in SmolLM2's GGUF, tied embeddings) with the tokenizer and chat
template of a real GGUF (SmolLM2's), so that prompts are tokenized as the embedded model's are.

    tiny_base --tokenizer-from SmolLM2.gguf --output tiny_base.gguf
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile

from export import testing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer-from", type=pathlib.Path, required=True)
    parser.add_argument("--output", type=pathlib.Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    import gguf

    vocab_size = len(gguf.GGUFReader(str(args.tokenizer_from)).fields["tokenizer.ggml.tokens"].data)
    with tempfile.TemporaryDirectory() as directory:
        checkpoint = testing.write_tiny_hf_checkpoint(
            pathlib.Path(directory) / "hf", "llama", tie_word_embeddings=True, seed=args.seed,
            vocab_size=vocab_size, max_position_embeddings=2048)
        testing.write_llama_gguf_from_hf(checkpoint, args.output, matrix_type="Q4_1",
                                         tokenizer_from=args.tokenizer_from)
    return 0


if __name__ == "__main__":
    sys.exit(main())
