"""Command line of passlib: transform one MLIR file with an LLM, write the result and a report.

    python -m passlib.cli input.mlir --task simplify --backend iree --model BUNDLE_DIR \
        -o out.mlir --report report.json

Exit status: 0 when the output was written (changed or, gracefully, unchanged); 1 in strict mode
when some unit could not be transformed (the report is written, the output is not); 2 for bad
arguments or invalid input MLIR.

Two more commands take the first argument's place (a file named like one is given as ./serve):

    python -m passlib.cli serve --model BUNDLE_DIR [--port N]      (passlib/serve.py)
    python -m passlib.cli evaluate --backend ... --report eval.json  (passlib/evaluate.py)
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

from passlib import (backends, cache, equivalence, evaluate, prompts, report, schedule, search, search_cache, serve,
                     transform, validate)

# The subdirectory of --cache DIR that holds search results (passlib.search_cache).
SEARCH_CACHE_DIRECTORY = "search"
# Commands other than transforming a file: name -> main(argv) returning the exit status.
COMMANDS = {"serve": serve.main, "evaluate": evaluate.main}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m passlib.cli",
        description="LLM-assisted MLIR transformation with parsing, verification and execution checks.",
        epilog="other commands: serve (a model bundle over Ollama's and OpenAI's HTTP APIs), "
               "evaluate (rates over an MLIR task set); see python -m passlib.cli serve --help",
    )
    parser.add_argument("input", type=pathlib.Path, help="MLIR file to transform")
    parser.add_argument("-o", "--output", type=pathlib.Path, required=True, help="MLIR file to write")
    parser.add_argument("--report", type=pathlib.Path, required=True, help="JSON report to write")
    parser.add_argument("--mode", choices=transform.MODES, default=transform.REWRITE_MODE,
                        help="rewrite functions with the LLM, let it choose a pass pipeline, or search "
                             "pipelines with no model; the search is the floor of the LLM modes (default: rewrite)")
    parser.add_argument("--task", default="simplify",
                        help=f"rewrite task: {', '.join(prompts.available_tasks())}, or an instruction in words "
                             "(default: simplify)")
    parser.add_argument("--search-budget", type=int,
                        help=f"pass-manager runs the search may spend per unit; 0 turns the floor off "
                             f"(default: {transform.DEFAULT_SEARCH_BUDGET} in search mode, "
                             f"{transform.DEFAULT_FLOOR_BUDGET} as the floor of rewrite and schedule)")
    parser.add_argument("--cost", choices=search.COST_NAMES, default="ops",
                        help="what the search and the comparison with the LLM minimize: "
                             + "; ".join(f"{c.name}: {c.description}" for c in search.COSTS.values())
                             + " (default: ops)")
    parser.add_argument("--best-of", type=int, default=1,
                        help="LLM answers per attempt, sampled with seeds seed..seed+N-1; the best valid one "
                             "counts (default: 1, greedy)")
    parser.add_argument("--dry-run", action="store_true",
                        help="ask the LLM and record prompts and answers in the report; change nothing")
    parser.add_argument("--backend", choices=backends.BACKEND_KINDS, default="iree",
                        help="where the model runs (default: iree, in process from a bundle)")
    parser.add_argument("--model",
                        help="bundle directory for iree; model name for ollama and openai")
    parser.add_argument("--endpoint",
                        help=f"server URL (default: ${backends.OLLAMA_HOST_VARIABLE} or "
                             f"${backends.OPENAI_BASE_URL_VARIABLE})")
    parser.add_argument("--timeout", type=float,
                        help=f"seconds per HTTP request (default: ${backends.TIMEOUT_VARIABLE} or "
                             f"{backends.DEFAULT_TIMEOUT_SECONDS:g})")
    parser.add_argument("--tokenizer", type=pathlib.Path,
                        help="tokenizer.json of a served model, to measure prompts exactly")
    parser.add_argument("--function", action="append", default=[], dest="functions",
                        help="function to rewrite (repeatable; default: every function)")
    parser.add_argument("--passes",
                        help="comma-separated allow-list for schedule mode "
                             f"(default: {','.join(schedule.ALLOWED_PASSES)})")
    parser.add_argument("--cache", type=pathlib.Path, help="directory of the response cache")
    parser.add_argument("--cache-only", action="store_true",
                        help="answer only from the cache; a miss leaves the unit unchanged")
    parser.add_argument("--strict", action="store_true",
                        help="fail (exit 1) instead of leaving a unit unchanged")
    parser.add_argument("--max-attempts", type=int, default=3, help="prompts per unit (default: 3)")
    parser.add_argument("--context-tokens", type=int, default=4096,
                        help="the model's context size (default: 4096)")
    parser.add_argument("--max-new-tokens", type=int, default=1024,
                        help="longest answer (default: 1024)")
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="0 for greedy decoding (default); above 0 samples with --seed")
    parser.add_argument("--seed", type=int, help="sampling seed (default: 0 when sampling)")
    parser.add_argument("--no-equivalence", action="store_true",
                        help="skip the execution check (parse, verify and types are still checked)")
    parser.add_argument("--require-equivalence", action="store_true",
                        help="reject rewrites of functions whose behaviour cannot be checked")
    parser.add_argument("--equivalence-timeout", type=float, default=30.0,
                        help="seconds allowed to run each compiled version (default: 30)")
    return parser


def _write_atomically(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


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
        decoding=backends.DecodingOptions(
            max_new_tokens=arguments.max_new_tokens,
            temperature=arguments.temperature,
            seed=arguments.seed,
        ),
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
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.cache_only and arguments.cache is None:
        parser.error("--cache-only needs --cache DIR")
    try:
        text = arguments.input.read_text(encoding="utf-8")
    except OSError as error:
        print(f"error: cannot read {arguments.input}: {error.strerror}", file=sys.stderr)
        return 2
    try:
        options = _options(arguments)
        backend = None
        if options.mode != transform.SEARCH_MODE:
            backend = backends.create_backend(arguments.backend, model=arguments.model,
                                              endpoint=arguments.endpoint, timeout_s=arguments.timeout,
                                              tokenizer=arguments.tokenizer)
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
    _write_atomically(arguments.output, result.text)
    report.write_report(result.report, arguments.report)
    summary = result.report.aggregate()
    winners = ", ".join(f"{count} {winner}" for winner, count in summary["winners"].items() if count)
    print(f"{arguments.input}: {result.report.result}; winners per unit: {winners or 'none'}; "
          f"{summary['attempts']} LLM attempt(s); report: {arguments.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
