"""Command line for a compiled tokenizer.

    python -m tokenizer_model.cli encode FILE --vmfb tokenizer.vmfb --irpa tokenizer.irpa
    python -m tokenizer_model.cli decode FILE --vmfb tokenizer.vmfb --irpa tokenizer.irpa
    python -m tokenizer_model.cli encode FILE --source tokenizer.json   # build and compile first

`encode` reads FILE as UTF-8 text (`-` for standard input) and prints the ids, space-separated
(`--json` for a JSON list). `decode` reads ids (whitespace-separated or a JSON list) and prints
the text. With `--source`, the tables are extracted and the module compiled into a temporary
directory first (a few seconds).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from tokenizer_model import build
from tokenizer_model.compile_module import compile_mlir
from tokenizer_model.tables import TokenizerSourceError, write_irpa
from tokenizer_model.tokenizer import CompiledTokenizer


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    return Path(path).read_text(encoding="utf-8")


def _parse_ids(text: str) -> list[int]:
    text = text.strip()
    if text.startswith("["):
        return [int(value) for value in json.loads(text)]
    return [int(value) for value in text.split()]


def _load(args: argparse.Namespace, workspace: Path) -> CompiledTokenizer:
    if args.source is not None:
        tables = build.extract(args.source)
        vmfb, irpa = workspace / "tokenizer.vmfb", workspace / "tokenizer.irpa"
        compile_mlir(build.module_mlir(tables.algorithm), vmfb)
        write_irpa(tables, irpa)
        return CompiledTokenizer.load(vmfb, irpa)
    if args.vmfb is None or args.irpa is None:
        raise TokenizerSourceError("give --vmfb and --irpa (from tokenizer_model.build and iree-compile), or --source")
    return CompiledTokenizer.load(args.vmfb, args.irpa)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Encode or decode with a tokenizer compiled by IREE.")
    parser.add_argument("command", choices=("encode", "decode"))
    parser.add_argument("file", help="input file, or - for standard input")
    parser.add_argument("--vmfb", type=Path, help="compiled tokenizer module")
    parser.add_argument("--irpa", type=Path, help="tokenizer tables")
    parser.add_argument("--source", type=Path, help="tokenizer.json / .gguf / .model to build from instead")
    parser.add_argument("--json", action="store_true", help="print ids as a JSON list")
    parser.add_argument("--skip-special-tokens", action="store_true", help="decode: drop special tokens")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="tokenizer_cli_") as workspace:
            tokenizer = _load(args, Path(workspace))
            if args.command == "encode":
                ids = tokenizer.encode(_read(args.file))
                print(json.dumps(ids) if args.json else " ".join(map(str, ids)))
            else:
                sys.stdout.write(tokenizer.decode(_parse_ids(_read(args.file)), args.skip_special_tokens))
    except (TokenizerSourceError, OSError, ValueError, IndexError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
