"""`update`: writes docs/rules.md and the README's rules table from the public .bzl files' docs, or
with --check says whether the checked-in files are up to date.

    bazel run //tools/rules_reference:update          # rewrite docs/rules.md and README.md
    bazel test //tools/rules_reference:up_to_date_test

Each `--module //pkg:defs.bzl=PATH` is the textproto that `starlark_doc_extract` wrote for it.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from tools import generated_file
from tools.rules_reference import render, textproto


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", action="append", required=True, metavar="LOAD_PATH=TEXTPROTO",
                        help="a public .bzl file's load path and its starlark_doc_extract textproto (repeatable)")
    parser.add_argument("--readme", type=pathlib.Path, required=True, help="README.md, relative to the workspace")
    parser.add_argument("--doc", type=pathlib.Path, required=True, help="docs/rules.md, relative to the workspace")
    parser.add_argument("--check", action="store_true",
                        help="compare with the files (paths as given, e.g. runfiles) instead of writing them")
    return parser


def _modules(specs: list[str]) -> list[render.Module]:
    modules = []
    for spec in specs:
        load_path, _, path = spec.partition("=")
        text = pathlib.Path(path).read_text(encoding="utf-8")
        try:
            modules.append(render.Module(load_path, textproto.parse(text)))
        except textproto.TextprotoError as error:
            raise SystemExit(f"update: {path}: {error}") from None
    return modules


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    modules = _modules(args.module)
    readme_path = args.readme if args.check else generated_file.workspace_path(args.readme)
    doc_path = args.doc if args.check else generated_file.workspace_path(args.doc)
    readme = readme_path.read_text(encoding="utf-8")
    try:
        wanted = {doc_path: render.reference(modules),
                  readme_path: render.replace_summary(readme, render.summary_table(modules), str(args.readme))}
    except ValueError as error:
        print(f"update: {error}", file=sys.stderr)
        return 2
    stale = [path.name for path, text in wanted.items() if not generated_file.sync(path, text, check=args.check)]
    if args.check and stale:
        print(f"\n{', '.join(stale)} out of date with the .bzl docstrings; "
              "run: bazel run //tools/rules_reference:update", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
