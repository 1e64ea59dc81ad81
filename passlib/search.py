"""The search: a bounded, deterministic best-first search over pass pipelines from the allow-list.

A state is a module reached by a pipeline (a tuple of allowed pass names). Expanding a state runs one
more pass on it: one pass-manager run, the unit of the budget. A run that fails or leaves a module that
does not verify is dropped. States are deduplicated by the module's printed form (most passes change
nothing on most modules), and the frontier is ordered by (cost, pipeline length, pipeline), so the same
input, allow-list, budget and cost always give the same result. The result is every distinct state
ranked by the same order: the first is the best found, the rest are fall-backs for when the best
fails the execution check (passlib.floor).

Costs (COSTS) are pluggable: a name, what it measures, and a function of a module. `ops` counts
operations (passlib.ir.count_ops); `dispatches` counts the dispatch regions iree-compile forms for
llvm-cpu (`--compile-to=flow`), one compile per distinct state.
"""

from __future__ import annotations

import dataclasses
import hashlib
import heapq
import time
from collections.abc import Callable, Mapping

from iree.compiler import ir as mlir
from iree.compiler import passmanager
from iree.compiler.tools import binaries

from passlib import ir, sandbox, schedule

# Pipelines longer than this are not expanded (the same bound as an LLM's schedule answer).
MAX_PIPELINE_LENGTH = schedule.MAX_PIPELINE_LENGTH
# Wall-clock bound of one search, whatever its budget (inputs are untrusted; passes can be slow).
DEFAULT_TIME_LIMIT_S = 120.0
_DISPATCH_COMPILE_TIMEOUT_S = 60.0


class CostError(RuntimeError):
    """A module's cost cannot be measured (for example, iree-compile rejects it)."""


@dataclasses.dataclass(frozen=True)
class Cost:
    """What the search minimizes."""

    name: str
    description: str
    measure: Callable[[mlir.Operation], float]


def _dispatch_count(module: mlir.Operation) -> float:
    command = [
        binaries.find_tool("iree-compile"), "-",
        "--iree-hal-target-device=local", "--iree-hal-local-target-device-backends=llvm-cpu",
        "--compile-to=flow", "-o", "-",
    ]
    completed = sandbox.run(command, input=ir.print_ir(module).encode(),
                            limits=sandbox.Limits(timeout_s=_DISPATCH_COMPILE_TIMEOUT_S))
    if isinstance(completed, sandbox.Crash):
        raise CostError(f"iree-compile --compile-to=flow {completed.reason}")
    if completed.returncode != 0:
        raise CostError("iree-compile --compile-to=flow failed: "
                        + completed.stderr.decode("utf-8", "replace").strip()[-500:])
    return float(completed.stdout.decode("utf-8", "replace").count("flow.dispatch @"))


COSTS: dict[str, Cost] = {
    "ops": Cost("ops", "operations in the module (func.func and return included)",
                lambda module: float(ir.count_ops(module))),
    "dispatches": Cost("dispatches", "dispatch regions iree-compile forms for llvm-cpu (--compile-to=flow)",
                       _dispatch_count),
}
COST_NAMES = tuple(COSTS)


def cost_named(name: str) -> Cost:
    """The cost called `name`; ValueError naming the known costs otherwise."""
    if name not in COSTS:
        raise ValueError(f"unknown cost {name!r}: choose one of {', '.join(COST_NAMES)}")
    return COSTS[name]


@dataclasses.dataclass(frozen=True)
class SearchOptions:
    """How far to search, and for what."""

    budget: int
    cost: str = "ops"
    max_length: int = MAX_PIPELINE_LENGTH
    time_limit_s: float = DEFAULT_TIME_LIMIT_S

    def __post_init__(self) -> None:
        if self.budget < 0:
            raise ValueError(f"the search budget must be >= 0 pass-manager runs, got {self.budget}")
        cost_named(self.cost)


@dataclasses.dataclass
class State:
    """A module reached from the input by `pipeline`, and its cost (`module` is None for the states a
    search worker did not send back: passlib.search_worker)."""

    pipeline: tuple[str, ...]
    cost: float
    module: mlir.Operation | None

    def order(self) -> tuple[float, int, tuple[str, ...]]:
        return (self.cost, len(self.pipeline), self.pipeline)


@dataclasses.dataclass
class SearchResult:
    """Every distinct state found, best first, and what the search spent."""

    ranked: list[State]
    runs: int
    failed_runs: int
    stopped: str  # "exhausted" (nothing left to expand), "budget" or "time"
    seconds: float
    # Passes left out because they crashed the search worker: "name: killed by SIGSEGV".
    crashed: list[str] = dataclasses.field(default_factory=list)

    @property
    def initial(self) -> State:
        return next(state for state in self.ranked if not state.pipeline)

    @property
    def best(self) -> State:
        return self.ranked[0]


def module_key(module: mlir.Operation) -> str:
    """A digest of the module's generic form: equal for modules that print the same."""
    return hashlib.sha256(ir.print_ir(module, generic=True).encode()).hexdigest()


def run_pass(module: mlir.Operation, name: str, allowed: Mapping[str, schedule.PassInfo]) -> mlir.Operation | None:
    """`module` after the one pass `name` (a copy), or None when the pass fails or the result does not verify."""
    result = schedule.apply_pipeline(module, [name], allowed)
    return result.module


def search(module: mlir.Operation, allowed: Mapping[str, schedule.PassInfo], options: SearchOptions,
           keep: Callable[[mlir.Operation], bool] | None = None,
           before_run: Callable[[str], None] | None = None) -> SearchResult:
    """Best-first search from `module` over pipelines of `allowed` passes (see the module docstring).

    `keep`, when given, rejects states that must not be results (for example, a unit whose function
    a pass deleted); rejected states are neither ranked nor expanded. `before_run`, when given, is
    told each pass before it runs (passlib.search_worker names the pass that crashed a worker). Raises
    CostError when the cost of `module` itself cannot be measured.
    """
    started = time.monotonic()
    cost = cost_named(options.cost)
    names = sorted(allowed)
    initial = State((), cost.measure(module), module)
    seen = {module_key(module)}
    states = [initial]
    frontier = [(initial.order(), 0)]
    runs = failed = 0
    stopped = "exhausted"
    while frontier:
        _, index = heapq.heappop(frontier)
        state = states[index]
        if len(state.pipeline) >= options.max_length:
            continue
        for name in names:
            if runs >= options.budget:
                stopped = "budget"
                break
            if time.monotonic() - started > options.time_limit_s:
                stopped = "time"
                break
            runs += 1
            if before_run is not None:
                before_run(name)
            candidate = run_pass(state.module, name, allowed)
            if candidate is None:
                failed += 1
                continue
            key = module_key(candidate)
            if key in seen:
                continue
            seen.add(key)
            if keep is not None and not keep(candidate):
                continue
            try:
                value = cost.measure(candidate)
            except CostError:
                failed += 1
                continue
            child = State(state.pipeline + (name,), value, candidate)
            states.append(child)
            heapq.heappush(frontier, (child.order(), len(states) - 1))
        if stopped != "exhausted":
            break
    return SearchResult(sorted(states, key=State.order), runs, failed, stopped, round(time.monotonic() - started, 6))
