"""Prompt building for passlib: system rules, task, few-shot examples and feedback, within a budget.

The text lives in `passlib/templates/` (`rewrite/` for function rewrites, `schedule/` for pass
pipelines); templates use `string.Template` placeholders (`${name}`). The budget is measured with a
tokenizer callable (the model's own when it is known): the required parts (rules, task, the code,
the feedback on a rejected answer) must fit, and few-shot examples are added in file order while
they fit.
"""

from __future__ import annotations

import dataclasses
import pathlib
import string
from collections.abc import Callable, Mapping

TEMPLATES_DIR = pathlib.Path(__file__).parent / "templates"
# Tokens a chat template adds around each message (ChatML: "<|im_start|>role\n" ... "<|im_end|>\n").
MESSAGE_OVERHEAD_TOKENS = 8
_HISTOGRAM_ENTRIES = 8

TokenCounter = Callable[[str], int]


@dataclasses.dataclass(frozen=True)
class Example:
    """A few-shot example: an input and the answer we want for it."""

    name: str
    input: str
    output: str


@dataclasses.dataclass(frozen=True)
class Feedback:
    """Why the previous answer was rejected, for the retry prompt."""

    stage: str
    diagnostic: str
    previous: str | None = None


@dataclasses.dataclass(frozen=True)
class Prompt:
    """A system and a user message, with their measured size."""

    system: str
    user: str
    tokens: int
    examples_included: int
    examples_available: int

    def messages(self) -> list[dict[str, str]]:
        """The prompt as chat messages (role, content)."""
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


class PromptTooLarge(ValueError):
    """The required parts of a prompt do not fit in the token budget."""


def _read(relative: str) -> str:
    path = TEMPLATES_DIR / relative
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"prompt template {path} is missing; it ships with passlib (reinstall or restore it)"
        ) from None


def _template(relative: str) -> string.Template:
    return string.Template(_read(relative))


def available_tasks() -> list[str]:
    """The rewrite tasks, one per file in templates/rewrite/tasks/."""
    return sorted(path.stem for path in (TEMPLATES_DIR / "rewrite" / "tasks").glob("*.txt"))


# The longest free-text task (an instruction written in the BUILD file instead of a template name).
MAX_FREE_TEXT_TASK_CHARACTERS = 2000


def is_free_text_task(task: str) -> bool:
    """A task is free text (an instruction) when it is not a template name and holds a space."""
    return task not in available_tasks() and any(character.isspace() for character in task.strip())


def task_instructions(task: str) -> str:
    """The instructions for a rewrite task: a template's text, or the free-text instruction itself.

    ValueError for a one-word task that names no template (most likely a typo) and for free text
    longer than MAX_FREE_TEXT_TASK_CHARACTERS.
    """
    if is_free_text_task(task):
        if len(task) > MAX_FREE_TEXT_TASK_CHARACTERS:
            raise ValueError(f"the free-text task has {len(task)} characters; at most "
                             f"{MAX_FREE_TEXT_TASK_CHARACTERS} fit in a prompt")
        return task.strip()
    if task not in available_tasks():
        raise ValueError(
            f"unknown task {task!r}: choose one of {', '.join(available_tasks())}, write an instruction "
            f"in words, or add {TEMPLATES_DIR / 'rewrite' / 'tasks' / (task + '.txt')}"
        )
    return _read(f"rewrite/tasks/{task}.txt").strip()


def _parse_example(path: pathlib.Path) -> Example:
    text = path.read_text(encoding="utf-8")
    input_marker, output_marker = "### input\n", "### output\n"
    if not text.startswith(input_marker) or output_marker not in text:
        raise ValueError(
            f"{path}: an example file starts with a '### input' line and has a '### output' line"
        )
    example_input, example_output = text[len(input_marker) :].split(output_marker, 1)
    return Example(path.stem, example_input.strip() + "\n", example_output.strip() + "\n")


def load_examples(directory: pathlib.Path) -> list[Example]:
    """The examples in a directory, in file-name order (none if the directory does not exist)."""
    return [_parse_example(path) for path in sorted(directory.glob("*.txt"))]


def rewrite_examples(task: str) -> list[Example]:
    """The few-shot examples of a rewrite task (none for a free-text task)."""
    if task not in available_tasks():
        return []
    return load_examples(TEMPLATES_DIR / "rewrite" / "examples" / task)


def schedule_examples() -> list[Example]:
    """The few-shot examples of schedule mode."""
    return load_examples(TEMPLATES_DIR / "schedule" / "examples")


def _measure(system: str, user: str, count_tokens: TokenCounter) -> int:
    return count_tokens(system) + count_tokens(user) + 2 * MESSAGE_OVERHEAD_TOKENS


def _fit(
    system: str,
    render_user: Callable[[str], str],
    example_template: string.Template,
    examples: list[Example],
    count_tokens: TokenCounter,
    budget_tokens: int,
) -> Prompt | None:
    """The prompt with as many examples as fit, or None when even none fit."""
    user = render_user("")
    tokens = _measure(system, user, count_tokens)
    if tokens > budget_tokens:
        return None
    included = ""
    count = 0
    for example in examples:
        candidate_examples = included + example_template.substitute(
            input=example.input, output=example.output
        )
        candidate_user = render_user(candidate_examples)
        candidate_tokens = _measure(system, candidate_user, count_tokens)
        if candidate_tokens > budget_tokens:
            break
        included, user, tokens, count = candidate_examples, candidate_user, candidate_tokens, count + 1
    return Prompt(system, user, tokens, count, len(examples))


def build_rewrite_prompt(
    *,
    task: str,
    function_name: str,
    unit_text: str,
    count_tokens: TokenCounter,
    budget_tokens: int,
    feedback: Feedback | None = None,
) -> Prompt:
    """The prompt asking to rewrite `@function_name` (shown with its context in `unit_text`)."""
    system = _read("rewrite/system.txt").strip()
    instructions = task_instructions(task)
    request = _template("rewrite/request.txt")
    feedback_template = _template("rewrite/feedback.txt")
    example_template = _template("rewrite/example.txt")
    examples = rewrite_examples(task)

    def feedback_text(with_previous: bool) -> str:
        if feedback is None:
            return ""
        previous = ""
        if with_previous and feedback.previous:
            previous = f"Your previous answer was:\n```mlir\n{feedback.previous.rstrip()}\n```\n"
        return feedback_template.substitute(
            stage=feedback.stage,
            diagnostic=feedback.diagnostic,
            previous=previous,
            function_name=function_name,
        )

    def render(examples_text: str, feedback_part: str) -> str:
        return (
            request.substitute(
                task=instructions,
                examples=examples_text,
                function_name=function_name,
                unit=unit_text,
                feedback=feedback_part,
            ).strip()
            + "\n"
        )

    for with_previous in (True, False):
        feedback_part = feedback_text(with_previous)
        prompt = _fit(
            system,
            lambda examples_text, feedback_part=feedback_part: render(examples_text, feedback_part),
            example_template,
            examples,
            count_tokens,
            budget_tokens,
        )
        if prompt is not None:
            return prompt
    required = _measure(system, render("", feedback_text(False)), count_tokens)
    raise PromptTooLarge(
        f"the prompt for @{function_name} needs {required} tokens but the budget is "
        f"{budget_tokens}; raise the context size or split the function"
    )


def format_histogram(histogram: Mapping[str, int]) -> str:
    """The most frequent operations, e.g. "arith.addi x3, func.return x2"."""
    entries = list(histogram.items())[:_HISTOGRAM_ENTRIES]
    return ", ".join(f"{name} x{count}" for name, count in entries) or "none"


def build_schedule_prompt(
    *,
    module_text: str,
    histogram: Mapping[str, int],
    op_count: int,
    allowed_passes: Mapping[str, str],
    count_tokens: TokenCounter,
    budget_tokens: int,
    feedback: Feedback | None = None,
) -> Prompt:
    """The prompt asking for a pass pipeline; the module text is left out if it does not fit."""
    system = _read("schedule/system.txt").strip()
    request = _template("schedule/request.txt")
    module_template = _template("schedule/module.txt")
    example_template = _template("schedule/example.txt")
    passes = "\n".join(f"- {name}: {description}" for name, description in allowed_passes.items())
    feedback_part = ""
    if feedback is not None:
        feedback_part = _template("schedule/feedback.txt").substitute(
            previous=feedback.previous or "(none)", diagnostic=feedback.diagnostic
        )
    for module_part in (module_template.substitute(module=module_text), ""):
        prompt = _fit(
            system,
            lambda examples_text, module_part=module_part: request.substitute(
                passes=passes,
                examples=examples_text,
                op_count=op_count,
                histogram=format_histogram(histogram),
                module=module_part,
                feedback=feedback_part,
            ).strip()
            + "\n",
            example_template,
            schedule_examples(),
            count_tokens,
            budget_tokens,
        )
        if prompt is not None:
            return prompt
    raise PromptTooLarge(
        f"even without the module text, the schedule prompt does not fit in {budget_tokens} tokens"
    )
