"""The in-process `iree` backend with a real compiled model bundle (skipped without one).

Set PASSLIB_TEST_BUNDLE to a bundle directory built by `llm_artifacts` (e.g. the SmolLM2 bundle);
Bazel wires it to the artifact. The model is small, so the test checks the plumbing (a real answer
from the model goes through the whole pipeline and the input survives whatever it says), not quality.
"""

from __future__ import annotations

import os
import pathlib

import pytest

from passlib import backends, cache, ir, report, transform
from passlib.tests.samples import DOUBLE

BUNDLE_VARIABLE = "PASSLIB_TEST_BUNDLE"


@pytest.fixture(scope="module")
def bundle() -> pathlib.Path:
    value = os.environ.get(BUNDLE_VARIABLE)
    if not value:
        pytest.skip(f"{BUNDLE_VARIABLE} is not set: no compiled model bundle to run")
    return pathlib.Path(value)


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
