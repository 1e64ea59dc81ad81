"""Throughput of the compiled tokenizers against the reference libraries, on the test corpus.

    python -m tokenizer_model.benchmark [--repeats 3] [--json results.json]

For Qwen2 (tokenizer.json), SmolLM2 (GGUF) and a SentencePiece BPE model trained on the corpus,
in one run and on the same strings: encode every corpus string with one call each, encode the
whole corpus as one string, and decode each string's ids with one call each. Reported as MB/s of
text (UTF-8) and as the ratio compiled / reference (above 1: the compiled tokenizer is faster).
The best of `--repeats` runs is kept. The references: HF `tokenizers` (`Tokenizer.encode`,
single-threaded per call) and `sentencepiece`. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

from tokenizer_model import build
from tokenizer_model.algorithms import MODULES
from tokenizer_model.compile_module import compile_mlir
from tokenizer_model.tables import write_irpa
from tokenizer_model.tests import references
from tokenizer_model.tokenizer import CompiledTokenizer


def best_time(function: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def measure(name: str, compiled: CompiledTokenizer, reference_encode, reference_decode, texts: list[str],
            repeats: int) -> list[dict]:
    megabytes = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    whole = "\n".join(texts)
    ids = [reference_encode(t) for t in texts]
    cases = [
        ("encode, one call per string", lambda: [compiled.encode(t) for t in texts],
         lambda: [reference_encode(t) for t in texts], megabytes),
        ("encode, whole corpus in one call", lambda: compiled.encode(whole),
         lambda: reference_encode(whole), len(whole.encode("utf-8")) / 1e6),
        ("decode, one call per string", lambda: [compiled.decode(i) for i in ids],
         lambda: [reference_decode(i) for i in ids], megabytes),
    ]
    rows = []
    for case, ours, theirs, size in cases:
        ours_seconds, reference_seconds = best_time(ours, repeats), best_time(theirs, repeats)
        rows.append({"tokenizer": name, "case": case, "megabytes": round(size, 3),
                     "compiled_mb_per_s": round(size / ours_seconds, 3),
                     "reference_mb_per_s": round(size / reference_seconds, 3),
                     "ratio": round(reference_seconds / ours_seconds, 3)})
    return rows


def run(repeats: int) -> list[dict]:
    import sentencepiece
    from tokenizers import Tokenizer

    corpus = references.corpus()
    texts = [item["text"] for item in corpus]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="tokenizer_benchmark_") as directory:
        workspace = Path(directory)
        modules = {}
        for algorithm in MODULES:
            modules[algorithm] = workspace / f"{algorithm}.vmfb"
            compile_mlir(build.module_mlir(algorithm), modules[algorithm])
        model = references.train_sentencepiece(corpus, workspace / "sentencepiece.model",
                                               **references.SENTENCEPIECE_SETTINGS["llama2_style"])
        qwen = Tokenizer.from_file(str(references.QWEN_TOKENIZER_JSON))
        smollm2 = references.gguf_reference(references.SMOLLM2_GGUF)
        spm = sentencepiece.SentencePieceProcessor(model_file=str(model))
        cases = [
            ("qwen2 (tokenizer.json)", references.QWEN_TOKENIZER_JSON, lambda t: qwen.encode(t).ids,
             lambda i: qwen.decode(i, skip_special_tokens=False)),
            ("smollm2 (gguf)", references.SMOLLM2_GGUF, lambda t: smollm2.encode(t).ids,
             lambda i: smollm2.decode(i, skip_special_tokens=False)),
            ("sentencepiece bpe (trained)", model, spm.encode, spm.decode),
        ]
        for name, source, encode, decode in cases:
            tables = build.extract(source)
            irpa = workspace / f"{source.stem}.irpa"
            write_irpa(tables, irpa)
            compiled = CompiledTokenizer.load(modules[tables.algorithm], irpa, max_chunk_bytes=1 << 30)
            rows += measure(name, compiled, encode, decode, texts, repeats)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    rows = run(args.repeats)
    print(f"{'tokenizer':30} {'case':34} {'compiled MB/s':>14} {'reference MB/s':>15} {'ratio':>7}")
    for row in rows:
        print(f"{row['tokenizer']:30} {row['case']:34} {row['compiled_mb_per_s']:14.2f} "
              f"{row['reference_mb_per_s']:15.2f} {row['ratio']:7.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
