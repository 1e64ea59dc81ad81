"""`finetune_tool`: base GGUF + training pairs -> a fine-tuned GGUF (LoRA, merged), and its loss curve.

    finetune_tool --base model.gguf --data pairs.jsonl --output tuned.gguf --loss-curve loss.json \\
        [--steps 200 --learning-rate 2e-4 --rank 16 --alpha 32 --seed 0 ...]

The action `llm_finetune` runs. Reads the base model with transformers (GGUF tensors dequantized
to float32), renders each pair as llm_transform's prompt with the model's chat template
(finetune.chat_examples), trains low-rank adapters (finetune.train) and writes the base file with
the merged matrices (finetune.gguf_merge). Progress goes to the log. Exit 2 with the file named for
bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import os
import pathlib
import sys

_log = logging.getLogger("finetune")


def _parser() -> argparse.ArgumentParser:
    from finetune.train import TrainingOptions

    defaults = TrainingOptions()
    parser = argparse.ArgumentParser(prog="finetune_tool", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=pathlib.Path, required=True, help="the base model, a Llama GGUF file")
    parser.add_argument("--data", type=pathlib.Path, required=True,
                        help="training pairs, JSON lines (passlib/training_data/generate_tool.py)")
    parser.add_argument("--output", type=pathlib.Path, required=True, help="the fine-tuned GGUF to write")
    parser.add_argument("--loss-curve", type=pathlib.Path, help="write the loss of every step here (JSON)")
    parser.add_argument("--context-length", type=int, required=True,
                        help="the context length of the bundle the model is exported to (prompts are "
                             "built for its budget, as llm_transform builds them)")
    parser.add_argument("--max-new-tokens", type=int, default=512,
                        help="the answer limit llm_transform runs with (its default: 512); it sets the prompt "
                             "budget, and longer answers are left out")
    parser.add_argument("--max-sequence-length", type=int, default=1536,
                        help="pairs longer than this (prompt + answer tokens) are left out")
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--rank", type=int, default=defaults.rank)
    parser.add_argument("--alpha", type=float, default=defaults.alpha)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--threads", type=int, default=defaults.threads,
                        help="torch threads; the result is reproducible for a fixed count")
    parser.add_argument("--merged-type", default="Q8_0", help="GGUF type of the changed matrices (Q8_0, F16, F32)")
    parser.add_argument("--log-every", type=int, default=defaults.log_every)
    return parser


def _sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run(args: argparse.Namespace) -> int:
    import torch
    from tokenizers import Tokenizer
    from transformers import AutoModelForCausalLM

    from artifacts.atomic_write import write_text_atomic
    from artifacts.generation_config import CheckpointMetadataError, from_gguf
    from finetune import chat_examples, gguf_merge, train
    from passlib.training_data.records import RecordError, read_pairs

    options = train.TrainingOptions(
        steps=args.steps, learning_rate=args.learning_rate, rank=args.rank, alpha=args.alpha,
        batch_size=args.batch_size, warmup_steps=args.warmup_steps, seed=args.seed, threads=args.threads,
        log_every=args.log_every)
    train.make_deterministic(options)
    try:
        generation, tokenizer_json = from_gguf(args.base)
        pairs = read_pairs(args.data)
    except (CheckpointMetadataError, RecordError) as error:
        print(f"finetune_tool: {error}", file=sys.stderr)
        return 2
    generation = dataclasses.replace(generation, context_length=args.context_length)
    encoder = chat_examples.ChatEncoder(Tokenizer.from_str(tokenizer_json), generation)
    examples = chat_examples.chat_examples(pairs, encoder, max_length=args.max_sequence_length,
                                           max_new_tokens=args.max_new_tokens)
    _log.info("%d training pairs from %s, %d fit in %d tokens (%d answer tokens in all)", len(pairs), args.data,
              len(examples), args.max_sequence_length, sum(example.answer_tokens for example in examples))
    if not examples:
        print(f"finetune_tool: {args.data}: no training pair fits in --max-sequence-length "
              f"{args.max_sequence_length}; raise it or generate more data", file=sys.stderr)
        return 2
    model = AutoModelForCausalLM.from_pretrained(str(args.base.parent), gguf_file=args.base.name,
                                                 torch_dtype=torch.float32)
    pad_id = generation.pad_token_id if generation.pad_token_id is not None else 0
    result = train.train(model, examples, options, pad_id=pad_id)
    metadata = {
        "data_sha256": _sha256(args.data),
        "examples": str(len(examples)),
        "settings": json.dumps(dataclasses.asdict(options), sort_keys=True),
    }
    temporary = args.output.with_name(args.output.name + ".partial")
    gguf_merge.write_merged_gguf(args.base, temporary, model.state_dict(), result.changed_weights,
                                 merged_type=args.merged_type, extra_metadata=metadata)
    os.replace(temporary, args.output)
    if args.loss_curve is not None:
        write_text_atomic(args.loss_curve, json.dumps(
            {"options": dataclasses.asdict(options), "examples": len(examples),
             "steps": [{"step": record.step, "loss": record.loss, "tokens": record.tokens}
                       for record in result.curve]}, indent=1) + "\n")
    _log.info("trained %d steps in %.0f s", len(result.curve), sum(record.seconds for record in result.curve))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    args = _parser().parse_args(argv)
    try:
        return run(args)
    except ValueError as error:
        print(f"finetune_tool: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
