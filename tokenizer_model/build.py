"""Build entry point: a tokenizer source file to the tokenizer's MLIR module and its IRPA tables.

    python -m tokenizer_model.build --source tokenizer.json|model.gguf|x.model \\
        --output-mlir tokenizer.mlir --output-irpa tokenizer.irpa

This is the Bazel action. It reads only `--source`, writes only the two outputs (atomically:
temporary file in the same directory, then rename), and is deterministic: the MLIR depends only
on the tokenizer algorithm (byte-level BPE or SentencePiece BPE), so every vocabulary of one
algorithm shares one compiled module; the IRPA holds that vocabulary's tables. Compiling the MLIR
to a VMFB is a separate step (`iree-compile`, the `iree_vmfb` rule), for example for the CPU:
the flags of `iree_targets.compile_flags("llvm-cpu")` (toolchains/iree_targets.py, generated from
private/targets.bzl).

The source format is recognized from the file's contents (`--format` overrides): GGUF by its
magic, HF `tokenizer.json` as JSON, anything else as a SentencePiece model protobuf.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from tokenizer_model import extract_bytelevel, extract_sentencepiece
from tokenizer_model.algorithms import MODULES
from tokenizer_model.tables import TokenizerSourceError, TokenizerTables, write_irpa

FORMATS = ("auto", "tokenizer.json", "gguf", "sentencepiece")


def detect_format(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            head = stream.read(64)
    except OSError as error:
        raise TokenizerSourceError(f"{path}: cannot read the tokenizer source ({error})") from error
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.lstrip()[:1] == b"{":
        return "tokenizer.json"
    return "sentencepiece"


def extract(path: Path, source_format: str = "auto") -> TokenizerTables:
    """The tables of the tokenizer in `path`."""
    path = Path(path)
    if source_format == "auto":
        source_format = detect_format(path)
    if source_format == "gguf":
        return extract_bytelevel.build_tables(extract_bytelevel.from_gguf(path))
    if source_format == "tokenizer.json":
        return extract_bytelevel.build_tables(extract_bytelevel.from_tokenizer_json(path))
    if source_format == "sentencepiece":
        return extract_sentencepiece.from_sentencepiece(path)
    raise ValueError(f"unknown source format {source_format!r}; expected one of {FORMATS}")


def module_mlir(algorithm: str) -> str:
    return MODULES[algorithm].module_mlir()


def write_text_atomically(path: Path, text: str) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a compiled tokenizer's MLIR module and IRPA tables.")
    parser.add_argument("--source", type=Path, required=True, help="tokenizer.json, .gguf or SentencePiece .model")
    parser.add_argument("--format", choices=FORMATS, default="auto", help="source format (default: detected)")
    parser.add_argument("--output-mlir", type=Path, required=True)
    parser.add_argument("--output-irpa", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        tables = extract(args.source, args.format)
    except TokenizerSourceError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    for output in (args.output_mlir, args.output_irpa):
        output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(args.output_mlir, module_mlir(tables.algorithm))
    write_irpa(tables, args.output_irpa)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
