"""`generate_tool`: the specialist's training data, generated and labelled by the search.

    generate_tool --output pairs.jsonl [--summary summary.json] [--seed 1 --programs 200 \\
        --small-programs 0 --torch-modules 40 --search-budget 200 --cost ops --jobs 2] [--exclude-tasks DIR ...]

The action `llm_training_data` runs. Candidates come from two generators disjoint from the
evaluation sets by construction (random_programs: random arith/math/scf/tensor/linalg programs;
random_torch: randomly configured torch modules exported with iree-turbine, torch and linalg level).
Candidates whose functions are near-duplicates of an evaluation input (near_duplicates) are dropped
before labelling; the rest are labelled by the search floor (label), and only verified pairs are
written. The output is deterministic for the same options. Progress goes to the log.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
import pathlib
import sys
import time

_log = logging.getLogger("training_data")
_worker_floor = None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="generate_tool", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=pathlib.Path, required=True, help="the pairs, JSON lines")
    parser.add_argument("--summary", type=pathlib.Path, help="counts per generator and mode (JSON)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--programs", type=int, default=200, help="random programs to generate")
    parser.add_argument("--small-programs", type=int, default=0,
                        help="small random programs (one function of a few operations) to generate")
    parser.add_argument("--torch-modules", type=int, default=40,
                        help="random torch modules to export (each gives a torch- and a linalg-level candidate)")
    parser.add_argument("--search-budget", type=int, default=200, help="pass-manager runs per unit")
    parser.add_argument("--cost", default="ops")
    parser.add_argument("--jobs", type=int, default=1, help="candidates labelled in parallel processes")
    parser.add_argument("--timeout", type=float, default=600.0,
                        help="seconds one candidate may take; a slower one (or one that crashes its worker) "
                             "is dropped")
    parser.add_argument("--exclude-tasks", type=pathlib.Path, action="append", default=[],
                        help="an evaluation task set whose inputs the data must not hold (repeatable; "
                             "default: passlib's two task sets)")
    return parser


def _init_worker(budget: int, cost: str) -> None:
    global _worker_floor
    from passlib.training_data import label

    logging.getLogger("passlib").setLevel(logging.WARNING)
    _worker_floor = label.labeller(budget, cost)


def _label(candidate):
    from passlib.training_data import label

    return label.label(candidate, _worker_floor)


def _candidates(args: argparse.Namespace) -> list:
    from passlib.training_data import random_programs

    candidates = random_programs.generate(args.seed, args.programs)
    candidates += random_programs.generate_small(args.seed, args.small_programs)
    if args.torch_modules:
        from passlib.training_data import random_torch

        candidates += random_torch.generate(args.seed, args.torch_modules)
    return candidates


def run(args: argparse.Namespace) -> int:
    from passlib.training_data import isolated_map, near_duplicates, records

    started = time.monotonic()
    task_sets = args.exclude_tasks or near_duplicates.default_task_set_paths()
    index = near_duplicates.EvaluationIndex.from_task_sets(task_sets)
    candidates = _candidates(args)
    _log.info("%d candidates generated in %.0f s", len(candidates), time.monotonic() - started)
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    kept = []
    for candidate in candidates:
        counts[candidate.kind]["candidates"] += 1
        match = index.match(candidate.module_text)
        if match is not None:
            counts[candidate.kind]["near_duplicates"] += 1
            _log.info("%s: dropped, a near-duplicate of %s", candidate.name, match)
            continue
        kept.append(candidate)
    pairs = []
    for number, result in isolated_map.isolated_map(_label, kept, jobs=args.jobs, timeout_s=args.timeout,
                                                    initializer=_init_worker,
                                                    initargs=(args.search_budget, args.cost)):
        candidate = kept[number]
        if isinstance(result, isolated_map.Failed):
            counts[candidate.kind]["failed"] += 1
            _log.warning("%s: dropped: %s", candidate.name, result.reason)
            continue
        pairs.extend(result)
        for pair in result:
            counts[candidate.kind][pair.mode] += 1
        if (number + 1) % 10 == 0 or number + 1 == len(kept):
            _log.info("labelled %d/%d candidates: %d pairs, %.0f s", number + 1, len(kept), len(pairs),
                      time.monotonic() - started)
    problems = near_duplicates.check_disjoint([pair.module for pair in pairs], index)
    if problems:
        print(f"generate_tool: the pairs hold evaluation functions: {problems[:3]}", file=sys.stderr)
        return 1
    records.write_pairs(args.output, pairs)
    if args.summary is not None:
        from artifacts.atomic_write import write_text_atomic

        summary = {"options": {key: str(value) if isinstance(value, pathlib.Path) else value
                               for key, value in vars(args).items() if key not in ("output", "summary", "jobs",
                                                                                     "exclude_tasks")},
                   "pairs": len(pairs), "by_kind": {kind: dict(counter) for kind, counter in sorted(counts.items())}}
        write_text_atomic(args.summary, json.dumps(summary, indent=1, sort_keys=True) + "\n")
    _log.info("%d pairs written to %s in %.0f s", len(pairs), args.output, time.monotonic() - started)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("passlib").setLevel(logging.WARNING)
    return run(_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
