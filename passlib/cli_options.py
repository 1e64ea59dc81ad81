"""The command-line options that `transform` and `evaluate` share: one declaration, one help text.

`model_parent()` is an argparse parent parser (the model, its backend, decoding, attempts, the execution
check and the search floor); `decoding_options`, `model_names` and `create_backend` read those options back.
"""

from __future__ import annotations

import argparse
import pathlib

from passlib import backends, transform


def model_parent(repeatable_model: bool = False) -> argparse.ArgumentParser:
    """A parent parser holding the options both `transform` and `evaluate` take.

    With `repeatable_model` (evaluate), --model may be given more than once: `model` is then a list (or
    None); model_names reads either form back.
    """
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("model and decoding")
    group.add_argument("--backend", choices=backends.BACKEND_KINDS, default="iree",
                       help="where the model runs: iree (in process from a bundle, the default), ollama, openai, "
                            "or auto (the bundle if --model is one, else an Ollama server that answers, else none)")
    # One help text for both commands; only evaluate (with --compare) takes several.
    model_help = ("bundle directory for iree; model name for ollama and openai; evaluate --compare takes it more "
                  "than once (each model's LLM systems are then named SYSTEM[NAME], NAME the bundle directory's "
                  "basename or the model name)")
    if repeatable_model:
        group.add_argument("--model", action="append", help=model_help)
    else:
        group.add_argument("--model", help=model_help)
    group.add_argument("--endpoint",
                       help=f"server URL (default: ${backends.OLLAMA_HOST_VARIABLE} or "
                            f"${backends.OPENAI_BASE_URL_VARIABLE})")
    group.add_argument("--timeout", type=float,
                       help=f"seconds one HTTP request may take in all, connecting and every read together "
                            f"(default: ${backends.TIMEOUT_VARIABLE} or {backends.DEFAULT_TIMEOUT_SECONDS:g})")
    group.add_argument("--tokenizer", type=pathlib.Path,
                       help="tokenizer.json of a served model, to measure prompts exactly")
    group.add_argument("--cache", type=pathlib.Path, help="directory of the response cache")
    group.add_argument("--max-attempts", type=int, default=3, help="prompts per unit (default: 3)")
    group.add_argument("--context-tokens", type=int, default=4096, help="the model's context size (default: 4096)")
    group.add_argument("--max-new-tokens", type=int, default=1024, help="longest answer (default: 1024)")
    group.add_argument("--temperature", type=float, default=0.0,
                       help="0 for greedy decoding (default); above 0 samples with --seed")
    group.add_argument("--seed", type=int, help="sampling seed (default: 0 when sampling)")
    group.add_argument("--best-of", type=int, default=1,
                       help="LLM answers per attempt, sampled with seeds seed..seed+N-1; the best valid one "
                            "counts (default: 1, greedy)")
    group.add_argument("--no-equivalence", action="store_true",
                       help="skip the execution check (parse, verify and types are still checked)")
    group.add_argument("--search-budget", type=int,
                       help=f"pass-manager runs the search may spend per unit; 0 turns the floor off "
                            f"(default: {transform.DEFAULT_SEARCH_BUDGET} in search mode, "
                            f"{transform.DEFAULT_FLOOR_BUDGET} as the floor of rewrite and schedule)")
    return parser


def decoding_options(arguments: argparse.Namespace) -> backends.DecodingOptions:
    """The decoding options of `model_parent()`'s arguments."""
    return backends.DecodingOptions(max_new_tokens=arguments.max_new_tokens, temperature=arguments.temperature,
                                    seed=arguments.seed)


def model_names(arguments: argparse.Namespace) -> list[str]:
    """The --model values: none, one, or (with `model_parent(repeatable_model=True)`) several."""
    if arguments.model is None:
        return []
    return list(arguments.model) if isinstance(arguments.model, list) else [arguments.model]


def model_label(arguments: argparse.Namespace, model: str) -> str:
    """A model's short name: the bundle directory's basename (iree, or a directory), else the name as given."""
    path = pathlib.Path(model)
    if arguments.backend == "iree" or path.is_dir():
        return path.name or model
    return model


def create_backend(arguments: argparse.Namespace, model: str | None = None) -> backends.Backend:
    """The backend `model_parent()`'s arguments name (ValueError for a missing model); `model` picks one
    of several --model values (by default the only one, if any)."""
    if model is None:
        names = model_names(arguments)
        model = names[0] if names else None
    return backends.create_backend(arguments.backend, model=model, endpoint=arguments.endpoint,
                                   timeout_s=arguments.timeout, tokenizer=arguments.tokenizer)
