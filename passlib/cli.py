"""Command line of passlib: `transform`, `serve` and `evaluate`, argparse subcommands.

    python -m passlib.cli transform input.mlir --mode search -o out.mlir --report report.json
    python -m passlib.cli transform input.mlir --task simplify --backend iree --model BUNDLE_DIR \
        -o out.mlir --report report.json
    python -m passlib.cli serve --model BUNDLE_DIR [--port N]        (passlib/serve.py)
    python -m passlib.cli evaluate --backend ... --report eval.json   (passlib/evaluate.py)

`transform` and `evaluate` share the model, decoding and search options (passlib/cli_options.py).
Without a command name the arguments are `transform`'s (`python -m passlib.cli input.mlir -o ...`);
an input file named like a command is given after `transform`.

Exit status of transform: 0 when the output was written (changed or, gracefully, unchanged); 1 in
strict mode when some unit could not be transformed (the report is written, the output is not); 2 for
bad arguments or invalid input MLIR.
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from artifacts.atomic_write import write_text_atomic
from passlib import (cache, cli_options, equivalence, evaluate, prompts, report, schedule, search, search_cache,
                     serve, transform, validate)

# The subdirectory of --cache DIR that holds search results (passlib.search_cache).
SEARCH_CACHE_DIRECTORY = "search"
COMMANDS = ("transform", "serve", "evaluate")


def _add_transform_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=pathlib.Path, help="MLIR file to transform")
    parser.add_argument("-o", "--output", type=pathlib.Path, required=True, help="MLIR file to write")
    parser.add_argument("--report", type=pathlib.Path, required=True, help="JSON report to write")
    parser.add_argument("--mode", choices=transform.MODES, default=transform.REWRITE_MODE,
                        help="rewrite functions with the LLM, let it choose a pass pipeline, or search "
                             "pipelines with no model; the search is the floor of the LLM modes (default: rewrite)")
    parser.add_argument("--task", default="simplify",
                        help=f"rewrite task: {', '.join(prompts.available_tasks())}, or an instruction in words "
                             "(default: simplify)")
    parser.add_argument("--cost", choices=search.COST_NAMES, default="ops",
                        help="what the search and the comparison with the LLM minimize: "
                             + "; ".join(f"{c.name}: {c.description}" for c in search.COSTS.values())
                             + " (default: ops)")
    parser.add_argument("--dry-run", action="store_true",
                        help="ask the LLM and record prompts and answers in the report; change nothing")
    parser.add_argument("--function", action="append", default=[], dest="functions",
                        help="function to rewrite (repeatable; default: every function)")
    parser.add_argument("--passes",
                        help="comma-separated allow-list for schedule mode "
                             f"(default: {','.join(schedule.ALLOWED_PASSES)})")
    parser.add_argument("--cache-only", action="store_true",
                        help="answer only from the cache; a miss leaves the unit unchanged")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1) instead of leaving a unit unchanged")
    parser.add_argument("--require-equivalence", action="store_true",
                        help="reject rewrites of functions whose behaviour cannot be checked")
    parser.add_argument("--equivalence-timeout", type=float, default=30.0,
                        help="seconds allowed to run each compiled version (default: 30)")


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subcommand each for transform, serve and evaluate."""
    parser = argparse.ArgumentParser(
        prog="python -m passlib.cli",
        description="MLIR transformation by a verified search, with an LLM measured above it.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{transform,serve,evaluate}")
    parent = cli_options.model_parent()
    transform_parser = commands.add_parser(
        "transform", parents=[parent], help="transform one MLIR file (the default command)",
        description="Transform one MLIR file: search, rewrite or schedule, with parsing, verification "
                    "and execution checks.")
    _add_transform_arguments(transform_parser)
    transform_parser.set_defaults(run=_transform)
    serve_parser = commands.add_parser("serve", help="serve a model bundle over Ollama's and OpenAI's HTTP APIs",
                                       description=serve.DESCRIPTION)
    serve.add_arguments(serve_parser)
    serve_parser.set_defaults(run=lambda arguments, parser: serve.run(arguments))
    # evaluate --compare takes several models side by side: its --model is repeatable.
    evaluate_parser = commands.add_parser("evaluate", parents=[cli_options.model_parent(repeatable_model=True)],
                                          help="run passlib over an MLIR task set",
                                          description=evaluate.DESCRIPTION)
    evaluate.add_arguments(evaluate_parser)
    evaluate_parser.set_defaults(run=lambda arguments, parser: evaluate.run(arguments, parser))
    return parser


def _options(arguments: argparse.Namespace) -> transform.TransformOptions:
    passes = None
    if arguments.passes:
        passes = tuple(name.strip() for name in arguments.passes.split(",") if name.strip())
        schedule.allowed_passes(passes)
    return transform.TransformOptions(
        mode=arguments.mode,
        task=arguments.task,
        max_attempts=arguments.max_attempts,
        context_tokens=arguments.context_tokens,
        decoding=cli_options.decoding_options(arguments),
        validation=validate.ValidationOptions(
            check_equivalence=not arguments.no_equivalence,
            require_equivalence=arguments.require_equivalence,
            equivalence=equivalence.EquivalenceOptions(run_timeout_s=arguments.equivalence_timeout),
        ),
        functions=tuple(arguments.functions),
        allowed_passes=passes,
        strict=arguments.strict,
        search_budget=arguments.search_budget,
        cost=arguments.cost,
        best_of=arguments.best_of,
        dry_run=arguments.dry_run,
    )


def main(argv: list[str]) -> int:
    """Runs the command line; returns the exit status."""
    if not argv or argv[0] not in (*COMMANDS, "-h", "--help"):
        argv = ["transform", *argv]
    parser = build_parser()
    arguments = parser.parse_args(argv)
    return arguments.run(arguments, parser)


def _os_error_message(error: OSError) -> str:
    """An OSError in one line: the paths it names and the system's reason."""
    names = " -> ".join(str(name) for name in (error.filename, error.filename2) if name is not None)
    return f"{names}: {error.strerror}" if names and error.strerror else str(error)


def _read_input(path: pathlib.Path) -> str | None:
    """The input file's text; None (after a one-line message naming it) when it cannot be read as UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        print(f"error: cannot read {path}: {error.strerror or error}", file=sys.stderr)
    except UnicodeDecodeError as error:
        print(f"error: cannot read {path}: it is not UTF-8 text (byte 0x{error.object[error.start]:02x} "
              f"at offset {error.start})", file=sys.stderr)
    return None


def _transform(arguments: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """`transform`: one MLIR file in, the output and its report out."""
    if arguments.cache_only and arguments.cache is None:
        parser.error("--cache-only needs --cache DIR")
    text = _read_input(arguments.input)
    if text is None:
        return 2
    try:
        return _transform_text(text, arguments)
    except OSError as error:  # a cache directory, output or report path that cannot be used
        print(f"error: {_os_error_message(error)}", file=sys.stderr)
        return 2


def _transform_text(text: str, arguments: argparse.Namespace) -> int:
    """Transforms the input's text and writes the output and the report; returns the exit status."""
    try:
        options = _options(arguments)
        backend = None
        if options.mode != transform.SEARCH_MODE:
            backend = cli_options.create_backend(arguments)
        response_cache = (cache.ResponseCache(arguments.cache, cache_only=arguments.cache_only)
                          if arguments.cache is not None else None)
        # Search results live beside the answers; a cache-only run (a Bazel action) does not write them.
        search_results = (search_cache.SearchCache(arguments.cache / SEARCH_CACHE_DIRECTORY)
                          if arguments.cache is not None and not arguments.cache_only else None)
        result = transform.transform_text(text, backend, options, response_cache, str(arguments.input),
                                          search_results=search_results)
    except transform.TransformError as error:
        report.write_report(error.report, arguments.report)
        print(f"error: {error} (see {arguments.report})", file=sys.stderr)
        return 1
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    arguments.output.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(arguments.output, result.text)
    report.write_report(result.report, arguments.report)
    summary = result.report.aggregate()
    winners = ", ".join(f"{count} {winner}" for winner, count in summary["winners"].items() if count)
    print(f"{arguments.input}: {result.report.result}; winners per unit: {winners or 'none'}; "
          f"{summary['attempts']} LLM attempt(s); report: {arguments.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
