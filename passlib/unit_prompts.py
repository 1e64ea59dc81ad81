"""The prompts llm_transform sends for a unit, built from the module itself.

One home for what goes into a prompt: `passlib.transform` asks the LLM with these, and the
specialist's training data (passlib.training_data, finetune/) is rendered with the same functions,
so the fine-tuned model sees at training time exactly what it is asked at build time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from iree.compiler import ir as mlir

from passlib import ir, prompts, schedule


def prompt_budget(context_tokens: int, model_context: int | None, max_new_tokens: int) -> int:
    """Tokens left for the prompt: the context (the model's own limit if smaller) minus the answer."""
    if model_context is not None:
        context_tokens = min(context_tokens, model_context)
    return context_tokens - max_new_tokens


def rewrite_prompt(module: mlir.Operation, name: str, *, task: str, count_tokens: prompts.TokenCounter,
                   budget_tokens: int, feedback: prompts.Feedback | None = None) -> prompts.Prompt:
    """The prompt asking to rewrite `@name` of `module` (shown with the declarations it uses)."""
    unit_text = ir.print_body(ir.extract_unit(module, name, callee_bodies=False))
    return prompts.build_rewrite_prompt(task=task, function_name=name, unit_text=unit_text,
                                        count_tokens=count_tokens, budget_tokens=budget_tokens,
                                        feedback=feedback)


def schedule_prompt(module: mlir.Operation, allowed: Mapping[str, schedule.PassInfo], *,
                    count_tokens: prompts.TokenCounter, budget_tokens: int,
                    feedback: prompts.Feedback | None = None) -> prompts.Prompt:
    """The prompt asking for a pass pipeline (names from `allowed`) for the whole `module`."""
    return prompts.build_schedule_prompt(
        module_text=ir.print_body(module), histogram=ir.op_histogram(module), op_count=ir.count_ops(module),
        allowed_passes={name: info.description for name, info in allowed.items()},
        count_tokens=count_tokens, budget_tokens=budget_tokens, feedback=feedback)


def rewrite_answer(function_text: str) -> str:
    """The answer a rewrite prompt asks for: the function in one fenced block."""
    return f"```mlir\n{function_text.rstrip()}\n```"


def schedule_answer(pipeline: list[str]) -> str:
    """The answer a schedule prompt asks for, in the constrained decoder's canonical spacing."""
    return json.dumps({"passes": list(pipeline)})
