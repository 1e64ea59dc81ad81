"""The in-process `iree` backend with a real compiled model bundle (skipped without one).

Set PASSLIB_TEST_BUNDLE to a bundle directory built by `llm_artifacts` (e.g. the SmolLM2 bundle);
Bazel wires it to the artifact. The model is small, so the test checks the plumbing (a real answer
from the model goes through the whole pipeline and the input survives whatever it says), not quality.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from passlib import backends, cache, extract, ir, prompts, report, schedule, transform
from passlib.tests.samples import DOUBLE

BUNDLE_VARIABLE = "PASSLIB_TEST_BUNDLE"


@pytest.fixture(scope="module")
def bundle() -> pathlib.Path:
    value = os.environ.get(BUNDLE_VARIABLE)
    if not value:
        pytest.skip(f"{BUNDLE_VARIABLE} is not set: no compiled model bundle to run")
    return pathlib.Path(value)


@pytest.fixture(scope="module")
def shared_backend(bundle) -> backends.IreeBackend:
    return backends.IreeBackend(bundle)


def schedule_prompt(backend: backends.Backend, allowed: dict[str, schedule.PassInfo]) -> prompts.Prompt:
    module = ir.parse_module(DOUBLE, ir.new_context())
    return prompts.build_schedule_prompt(
        module_text=ir.print_body(module), histogram=ir.op_histogram(module), op_count=ir.count_ops(module),
        allowed_passes={name: info.description for name, info in allowed.items()},
        count_tokens=backend.count_tokens, budget_tokens=1800)


@pytest.mark.parametrize("names", [None, ["symbol-dce", "inline"]])
def test_schedule_answers_only_name_allowed_passes(shared_backend, names):
    allowed = schedule.allowed_passes(names)
    prompt = schedule_prompt(shared_backend, allowed)
    schema = schedule.answer_schema(allowed)
    # greedy, two sampled answers, and a budget that only just fits the shortest answer
    for max_new_tokens, temperature, seed in ((96, 0.0, None), (96, 1.0, 1), (96, 1.0, 2), (16, 1.0, 3)):
        options = backends.DecodingOptions(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                                           json_schema=schema)
        completion = shared_backend.complete(prompt, options)
        assert completion.text.startswith('{"passes": [') and completion.text.endswith("]}"), completion.text
        choice = schedule.parse_answer(completion.text, allowed)
        assert choice.rejected == ()
        assert list(choice.passes) == json.loads(completion.text)["passes"]
        assert set(choice.passes) <= set(allowed)
        assert completion.finish_reason == "stop" and completion.completion_tokens <= max_new_tokens


def test_schedule_mode_through_the_driver_rejects_no_names(shared_backend, tmp_path):
    options = transform.TransformOptions(
        mode=transform.SCHEDULE_MODE, max_attempts=1, context_tokens=2048,
        decoding=backends.DecodingOptions(max_new_tokens=96))
    result = transform.transform_text(DOUBLE, shared_backend, options, cache.ResponseCache(tmp_path))
    attempts = [attempt for unit in result.report.units for attempt in unit.attempts]
    assert attempts
    for attempt in attempts:
        assert attempt.outcome != report.BACKEND_ERROR, attempt.diagnostic
        assert attempt.rejected_pass_names == []
        assert set(attempt.pipeline or ()) <= set(schedule.ALLOWED_PASSES)
    assert ir.verify(ir.parse_module(result.text, ir.new_context())) == []


def test_stop_at_closing_fence(shared_backend):
    prompt = prompts.Prompt(
        system="You copy MLIR code exactly.",
        user="Copy this code block exactly, then explain it:\n```mlir\nfunc.func @f(%x: i32) -> i32 {\n"
             "  return %x : i32\n}\n```\n",
        tokens=0, examples_included=0, examples_available=0)
    max_new_tokens = 200
    free = shared_backend.complete(prompt, backends.DecodingOptions(max_new_tokens=max_new_tokens))
    fenced = shared_backend.complete(
        prompt, backends.DecodingOptions(max_new_tokens=max_new_tokens, stop_at_closing_fence=True))
    # greedy: the same answer, cut right after the first closing fence
    assert any(block.closed for block in extract.fenced_blocks(free.text)), free.text
    assert free.text.startswith(fenced.text)
    assert fenced.completion_tokens < max_new_tokens and fenced.finish_reason == "stop"
    assert any(block.closed for block in extract.fenced_blocks(fenced.text))
    assert fenced.text.rstrip().endswith("```")
    assert not any(block.closed for block in extract.fenced_blocks(fenced.text.rstrip()[:-1]))


def test_real_model_answer_goes_through_the_pipeline(bundle, tmp_path):
    backend = backends.IreeBackend(bundle)
    assert backend.identity().startswith("iree:sha256:")
    options = transform.TransformOptions(
        task="strength-reduce", max_attempts=1, context_tokens=2048,
        decoding=backends.DecodingOptions(max_new_tokens=160))
    result = transform.transform_text(DOUBLE, backend, options, cache.ResponseCache(tmp_path))
    (unit,) = result.report.units
    (attempt,) = unit.attempts
    assert attempt.outcome != report.BACKEND_ERROR, attempt.diagnostic
    assert attempt.prompt_tokens > 100 and 0 < attempt.completion_tokens <= 160
    assert ir.verify(ir.parse_module(result.text, ir.new_context())) == []
    if unit.status != report.ACCEPTED:
        assert result.text == DOUBLE and unit.reason
    again = transform.transform_text(DOUBLE, backend, options, cache.ResponseCache(tmp_path, cache_only=True))
    assert again.text == result.text
    assert again.report.units[0].attempts[0].cache == cache.HIT


def test_a_bundle_that_does_not_load_leaves_the_input_unchanged(tmp_path):
    bundle_dir = tmp_path / "broken_bundle"
    bundle_dir.mkdir()
    (bundle_dir / "manifest.json").write_text('{"format": "not a bundle manifest"}\n')
    backend = backends.IreeBackend(bundle_dir)
    two_functions = DOUBLE + DOUBLE.replace("@double", "@twice").replace("// Produced by an upstream rule.\n", "")
    result = transform.transform_text(two_functions, backend, transform.TransformOptions())
    assert result.text == two_functions
    first, second = result.report.units
    assert first.status == second.status == report.BACKEND_ERROR
    assert "model: cannot load the bundle" in first.reason
    assert "backend unavailable" in second.reason
    assert result.report.backend["identity"].startswith("iree:sha256:")
