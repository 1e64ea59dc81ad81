"""The training data format: verified (module -> pipeline) and (function -> rewrite) pairs, as JSON lines.

Each line is one `TrainingPair`. A schedule pair holds a module and the pipeline the search found
best for it (`llm_transform`'s schedule mode); a rewrite pair holds a module, one of its functions
and that function as the search's pipeline rewrote it (rewrite mode, task "simplify"). Both keep the
costs before and after and were checked by execution (passlib.floor) before they were written.

`chat_turn` renders a pair as the prompt `llm_transform` sends (passlib.unit_prompts, the same
templates and budget) and the answer it wants, so training and use see the same text.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Iterable

from artifacts.atomic_write import write_text_atomic
from passlib import ir, prompts, schedule, unit_prompts

SCHEDULE, REWRITE = "schedule", "rewrite"
MODES = (SCHEDULE, REWRITE)
# The rewrite task the pairs teach: the search's output is a simplification of the function.
REWRITE_TASK = "simplify"
FORMAT_VERSION = 1


class RecordError(ValueError):
    """A line of a training data file is not a valid pair; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class TrainingPair:
    """One verified example."""

    name: str  # unique, e.g. "program-0007:schedule" or "program-0007:rewrite:@main"
    source: str  # the candidate's name
    kind: str  # the generator and level of the candidate
    mode: str  # SCHEDULE or REWRITE
    module: str  # the input module's text
    pipeline: tuple[str, ...]  # the search's best pipeline
    cost: str  # the cost it minimizes
    cost_before: float
    cost_after: float
    function: str | None = None  # rewrite pairs: the function's name
    rewritten: str | None = None  # rewrite pairs: the function after the pipeline

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if self.mode == REWRITE and (not self.function or not self.rewritten):
            raise ValueError("a rewrite pair needs `function` and `rewritten`")
        if not self.pipeline:
            raise ValueError("a pair needs a non-empty pipeline")

    def answer(self) -> str:
        """The answer `llm_transform` wants for this pair's prompt."""
        if self.mode == SCHEDULE:
            return unit_prompts.schedule_answer(list(self.pipeline))
        return unit_prompts.rewrite_answer(self.rewritten or "")

    def prompt(self, count_tokens: prompts.TokenCounter, budget_tokens: int) -> prompts.Prompt:
        """The prompt `llm_transform` sends for this pair's unit (PromptTooLarge if it cannot fit)."""
        with ir.new_context() as context:
            module = ir.parse_module(self.module, context, self.source)
            if self.mode == SCHEDULE:
                return unit_prompts.schedule_prompt(module, schedule.allowed_passes(None),
                                                    count_tokens=count_tokens, budget_tokens=budget_tokens)
            return unit_prompts.rewrite_prompt(module, self.function or "", task=REWRITE_TASK,
                                               count_tokens=count_tokens, budget_tokens=budget_tokens)

    def to_json(self) -> str:
        document = dataclasses.asdict(self)
        document["pipeline"] = list(self.pipeline)
        document["format_version"] = FORMAT_VERSION
        return json.dumps(document, sort_keys=True, ensure_ascii=False)


def write_pairs(path: pathlib.Path, pairs: Iterable[TrainingPair]) -> None:
    """Writes the pairs as JSON lines, atomically (a temporary file renamed over `path`)."""
    write_text_atomic(pathlib.Path(path), "".join(pair.to_json() + "\n" for pair in pairs))


def read_pairs(path: pathlib.Path) -> list[TrainingPair]:
    """The pairs of a JSON-lines file; RecordError naming the file and line for a bad one."""
    path = pathlib.Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise RecordError(f"{path}: cannot read the training data ({error}); rebuild it") from error
    fields = {field.name for field in dataclasses.fields(TrainingPair)}
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
            if not isinstance(document, dict):
                raise ValueError("not a JSON object")
            if document.pop("format_version", None) != FORMAT_VERSION:
                raise ValueError(f"format_version is not {FORMAT_VERSION}")
            unknown = set(document) - fields
            if unknown:
                raise ValueError(f"unknown fields {sorted(unknown)}")
            document["pipeline"] = tuple(document.get("pipeline") or ())
            pairs.append(TrainingPair(**document))
        except (ValueError, TypeError) as error:
            raise RecordError(f"{path}:{number}: not a training pair ({error}); regenerate the file "
                              "with passlib/training_data/generate_tool.py") from error
    return pairs
