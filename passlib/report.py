"""The JSON report of one passlib run: per function (or per schedule) attempts, and aggregates.

Every attempt records its cache status, latency, prompt and completion tokens, how the MLIR was
extracted, which checks ran with what result, and why it was rejected. Aggregates give the rates
(parse, verify, signature, equivalence, acceptance) and totals over the run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import tempfile
from typing import Any

REPORT_FORMAT = 1
# Outcomes of one attempt.
ACCEPTED = "accepted"
REJECTED = "rejected"
UNCHANGED = "unchanged"
BACKEND_ERROR = "backend_error"
SKIPPED = "skipped"


@dataclasses.dataclass
class Attempt:
    """One prompt sent and what became of the answer."""

    index: int
    outcome: str
    cache: str | None = None
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    prompt_examples: int | None = None
    finish_reason: str | None = None
    extraction: str | None = None
    checks: dict[str, str] = dataclasses.field(default_factory=dict)
    stage: str | None = None
    diagnostic: str | None = None
    pipeline: list[str] | None = None
    rejected_pass_names: list[str] | None = None
    ops_after: int | None = None
    # best_of > 1: which seeded sample this answer was; cost: the candidate's, when it was scored.
    sample: int | None = None
    cost: float | None = None
    # Dry runs only: what was sent and what came back.
    prompt_text: str | None = None
    answer_text: str | None = None


@dataclasses.dataclass
class UnitReport:
    """One function in rewrite mode, or the whole module in schedule mode."""

    name: str
    status: str
    reason: str | None = None
    ops_before: int | None = None
    ops_after: int | None = None
    attempts: list[Attempt] = dataclasses.field(default_factory=list)
    # Which candidate the output holds: "input", "search" (the floor) or "llm"; the cost each had
    # (by `cost`, a name of passlib.search.COSTS); the search's pipeline and what it spent.
    winner: str | None = None
    cost: str | None = None
    costs: dict[str, float] = dataclasses.field(default_factory=dict)
    search_pipeline: list[str] | None = None
    search: dict[str, Any] | None = None


@dataclasses.dataclass
class RunReport:
    """Everything about one run."""

    input: str
    mode: str
    task: str | None
    backend: dict[str, Any]
    strict: bool
    units: list[UnitReport] = dataclasses.field(default_factory=list)
    result: str = UNCHANGED
    reason: str | None = None
    ops_before: int | None = None
    ops_after: int | None = None
    duration_s: float | None = None

    def aggregate(self) -> dict[str, Any]:
        """Totals and rates over all attempts and units."""
        attempts = [attempt for unit in self.units for attempt in unit.attempts]

        def rate(check: str, good: tuple[str, ...] = ("ok",)) -> float | None:
            ran = [a.checks[check] for a in attempts if check in a.checks]
            return None if not ran else sum(status in good for status in ran) / len(ran)

        answered = [a for a in attempts if a.outcome != BACKEND_ERROR]
        ran_equivalence = [a for a in attempts if a.checks.get("equivalence") not in (None, "skipped")]
        tried_units = [u for u in self.units if u.attempts]
        return {
            "units": len(self.units),
            "units_accepted": sum(u.status == ACCEPTED for u in self.units),
            "winners": {winner: sum(u.winner == winner for u in self.units)
                        for winner in ("input", "search", "llm")},
            "attempts": len(attempts),
            "answers": len(answered),
            "backend_errors": len(attempts) - len(answered),
            "extraction_rate": (sum(a.extraction not in (None, "not_found", "truncated") for a in answered)
                                / len(answered)) if answered else None,
            "parse_ok_rate": rate("parse"),
            "verify_ok_rate": rate("verify"),
            "signature_ok_rate": rate("signature"),
            "equivalence_ok_rate": (sum(a.checks["equivalence"] == "equivalent" for a in ran_equivalence)
                                    / len(ran_equivalence)) if ran_equivalence else None,
            "acceptance_rate": (sum(u.status == ACCEPTED for u in tried_units) / len(tried_units))
            if tried_units else None,
            "cache_hits": sum(a.cache == "hit" for a in attempts),
            "cache_misses": sum(a.cache in ("miss", "corrupt") for a in attempts),
            "cache_corrupt": sum(a.cache == "corrupt" for a in attempts),
            "prompt_tokens": sum(a.prompt_tokens or 0 for a in attempts),
            "completion_tokens": sum(a.completion_tokens or 0 for a in attempts),
            "llm_latency_s": round(sum(a.latency_s or 0.0 for a in attempts), 6),
        }

    def to_json(self) -> dict[str, Any]:
        """The report as plain JSON data."""
        data = dataclasses.asdict(self)
        data["format"] = REPORT_FORMAT
        data["aggregate"] = self.aggregate()
        return data


def write_report(report: RunReport, path: pathlib.Path) -> None:
    """Writes the report as indented JSON, atomically."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(report.to_json(), handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise
