"""End-to-end tests of the passlib driver: real HTTP servers, real MLIR parsing, real IREE runs.

Each rejection path must leave the input byte-identical and say why in the report.
"""

from __future__ import annotations

import json

import pytest

from passlib import backends, cache, ir, report, transform
from passlib.tests import llm_server
from passlib.tests.samples import (
    CHANGES_RESULTS,
    DOUBLE,
    GOOD_ANSWER,
    NO_CODE,
    SCHEDULE_INPUT,
    UNDEFINED_VALUE,
    UNPARSABLE,
    WRONG_SIGNATURE,
)


def _options(**changes) -> transform.TransformOptions:
    settings = dict(task="strength-reduce", max_attempts=2,
                    decoding=backends.DecodingOptions(max_new_tokens=512), context_tokens=4096)
    settings.update(changes)
    return transform.TransformOptions(**settings)


def _ollama(server: llm_server.CannedLlmServer, timeout_s: float = 10) -> backends.OllamaBackend:
    return backends.OllamaBackend("qwen2.5-coder", server.url, timeout_s=timeout_s)


def test_accepted_rewrite_replaces_the_function():
    with llm_server.CannedLlmServer([GOOD_ANSWER]) as server:
        result = transform.transform_text(DOUBLE, _ollama(server), _options(), source_name="double.mlir")
        sent = server.requests[0]["body"]
    assert result.changed
    assert "arith.addi %arg0, %arg0 : i32" in result.text and "arith.muli" not in result.text
    assert ir.verify(ir.parse_module(result.text, ir.new_context())) == []
    assert "arith.muli %arg0, %c2_i32 : i32" in sent["prompt"] and "Reduce the strength" in sent["prompt"]
    (unit,) = result.report.units
    assert unit.status == report.ACCEPTED and (unit.ops_before, unit.ops_after) == (3, 2)
    # The search finds nothing to remove here; the LLM's rewrite is strictly cheaper, so it wins.
    assert unit.winner == "llm" and unit.costs["llm"] < unit.costs["search"] == unit.costs["input"]
    (attempt,) = unit.attempts
    assert attempt.checks == {"parse": "ok", "verify": "ok", "signature": "ok", "module_verify": "ok",
                              "equivalence": "equivalent"}
    assert attempt.cache == cache.DISABLED and attempt.extraction == "fenced"
    assert attempt.prompt_tokens > 50 and attempt.completion_tokens == len(GOOD_ANSWER.split())
    summary = result.report.aggregate()
    assert summary["acceptance_rate"] == 1.0 and summary["equivalence_ok_rate"] == 1.0


def test_constant_fold_through_the_openai_backend():
    source = """func.func @answer() -> i64 {
  %c6 = arith.constant 6 : i64
  %c7 = arith.constant 7 : i64
  %0 = arith.muli %c6, %c7 : i64
  return %0 : i64
}
"""
    folded = "```mlir\nfunc.func @answer() -> i64 {\n  %c42 = arith.constant 42 : i64\n  return %c42 : i64\n}\n```"
    with llm_server.CannedLlmServer([folded]) as server:
        backend = backends.OpenAIBackend("coder", server.url + "/v1", timeout_s=10)
        result = transform.transform_text(source, backend, _options(task="simplify"))
    assert result.changed and "arith.constant 42 : i64" in result.text
    assert result.report.ops_after == result.report.ops_before - 2


def test_feedback_on_a_rejected_answer_reaches_the_next_prompt():
    with llm_server.CannedLlmServer([UNPARSABLE, GOOD_ANSWER]) as server:
        result = transform.transform_text(DOUBLE, _ollama(server), _options())
        retry_prompt = server.requests[1]["body"]["prompt"]
    (unit,) = result.report.units
    assert unit.status == report.ACCEPTED
    assert [a.outcome for a in unit.attempts] == [report.REJECTED, report.ACCEPTED]
    assert unit.attempts[0].stage == "parse"
    assert "rejected at the parse check" in retry_prompt
    assert unit.attempts[0].diagnostic in retry_prompt
    assert "%0 = arith.addi %arg0 %arg0 : i32" in retry_prompt


@pytest.mark.parametrize(
    "answer, stage, words",
    [
        (NO_CODE, "extraction", "no MLIR function"),
        (UNPARSABLE, "parse", "line 2"),
        (WRONG_SIGNATURE, "signature", "argument types are (i64), expected (i32)"),
        (UNDEFINED_VALUE, "parse", "use of undeclared SSA value name"),
        (CHANGES_RESULTS, "equivalence", "mismatch: result 0 differs"),
    ],
)
def test_rejected_answers_leave_the_input_unchanged(answer, stage, words):
    with llm_server.CannedLlmServer([answer]) as server:
        result = transform.transform_text(DOUBLE, _ollama(server), _options())
        assert len(server.requests) == 2
    assert result.text == DOUBLE and not result.changed
    (unit,) = result.report.units
    assert unit.status == report.REJECTED
    assert [attempt.stage for attempt in unit.attempts] == [stage, stage]
    assert words in unit.attempts[-1].diagnostic
    assert words in unit.reason and words in result.report.reason
    assert result.report.result == report.UNCHANGED


def test_timeout_leaves_the_input_unchanged():
    with llm_server.CannedLlmServer([GOOD_ANSWER], delay_s=3.0) as server:
        result = transform.transform_text(DOUBLE, _ollama(server, timeout_s=0.5), _options())
    assert result.text == DOUBLE
    (unit,) = result.report.units
    assert unit.status == report.BACKEND_ERROR and "timeout" in unit.reason
    assert result.report.aggregate()["backend_errors"] == 1


def test_unreachable_server_leaves_every_function_unchanged():
    two_functions = DOUBLE + DOUBLE.replace("@double", "@twice").replace("// Produced by an upstream rule.\n", "")
    port = llm_server.unused_port()
    backend = backends.OllamaBackend("m", f"127.0.0.1:{port}", timeout_s=5)
    result = transform.transform_text(two_functions, backend, _options())
    assert result.text == two_functions
    first, second = result.report.units
    assert first.status == second.status == report.BACKEND_ERROR
    assert "unreachable" in first.reason and "backend unavailable" in second.reason


def test_strict_mode_turns_a_rejection_into_an_error():
    with llm_server.CannedLlmServer([WRONG_SIGNATURE]) as server:
        with pytest.raises(transform.TransformError) as error:
            transform.transform_text(DOUBLE, _ollama(server), _options(strict=True, max_attempts=1))
    assert error.value.report.result == "error"
    assert "signature" in str(error.value)


def test_invalid_input_is_an_input_error_not_a_silent_pass():
    with pytest.raises(transform.InputError) as error:
        transform.transform_text("func.func @f( {", backends.OllamaBackend("m", "127.0.0.1:1"), _options(),
                                 source_name="broken.mlir")
    assert "broken.mlir" in str(error.value) and "parse error" in str(error.value)


def test_only_the_named_functions_are_rewritten():
    two_functions = DOUBLE + DOUBLE.replace("@double", "@twice").replace("// Produced by an upstream rule.\n", "")
    answer = GOOD_ANSWER.replace("@double", "@twice")
    with llm_server.CannedLlmServer([answer]) as server:
        result = transform.transform_text(two_functions, _ollama(server), _options(functions=("twice",)))
        assert len(server.requests) == 1
    module = ir.parse_module(result.text, ir.new_context())
    assert "arith.muli" in ir.print_ir(ir.find_function(module, "double"))
    assert "arith.addi" in ir.print_ir(ir.find_function(module, "twice"))
    with pytest.raises(transform.InputError, match="@missing"):
        transform.transform_text(two_functions, _ollama(server), _options(functions=("missing",)))


def test_cache_hits_avoid_the_model_and_cache_only_misses_are_graceful(tmp_path):
    with llm_server.CannedLlmServer([UNPARSABLE, GOOD_ANSWER]) as server:
        backend = _ollama(server)
        first = transform.transform_text(DOUBLE, backend, _options(), cache.ResponseCache(tmp_path))
        second = transform.transform_text(DOUBLE, backend, _options(),
                                          cache.ResponseCache(tmp_path, cache_only=True))
        assert len(server.requests) == 2
    assert first.text == second.text and second.changed
    assert [a.cache for a in first.report.units[0].attempts] == [cache.MISS, cache.MISS]
    assert [a.cache for a in second.report.units[0].attempts] == [cache.HIT, cache.HIT]
    assert second.report.aggregate()["cache_hits"] == 2

    empty = transform.transform_text(DOUBLE, backend, _options(),
                                     cache.ResponseCache(tmp_path / "empty", cache_only=True))
    assert empty.text == DOUBLE
    assert empty.report.units[0].status == report.BACKEND_ERROR
    assert "cache_miss" in empty.report.units[0].reason


def test_schedule_mode_keeps_only_allowed_passes_and_a_smaller_module():
    answer = ('I would inline first, then clean up.\n'
              '{"passes": ["inline", "sccp", "cse", "--canonicalize", "rm -rf /", "symbol-dce"]}')
    with llm_server.CannedLlmServer([answer]) as server:
        result = transform.transform_text(SCHEDULE_INPUT, _ollama(server),
                                          _options(mode="schedule", search_budget=0))
        sent = server.requests[0]["body"]
    assert set(sent["format"]["properties"]["passes"]["items"]["enum"]) >= {"inline", "cse", "symbol-dce"}
    assert "- inline:" in sent["prompt"]
    (unit,) = result.report.units
    assert unit.status == report.ACCEPTED
    (attempt,) = unit.attempts
    assert attempt.pipeline == ["inline", "cse", "canonicalize", "symbol-dce"]
    assert attempt.rejected_pass_names == ["sccp", "rm -rf /"]
    module = ir.parse_module(result.text, ir.new_context())
    assert [ir.symbol_name(f) for f in ir.functions(module)] == ["main"]
    assert ir.count_ops(module) < ir.count_ops(ir.parse_module(SCHEDULE_INPUT, ir.new_context()))
    assert result.report.ops_after == ir.count_ops(module)


def test_schedule_mode_rejects_useless_or_empty_pipelines():
    useless = '{"passes": ["loop-invariant-code-motion"]}'
    with llm_server.CannedLlmServer([useless, "Use -O3 and vectorize everything."]) as server:
        result = transform.transform_text(SCHEDULE_INPUT, _ollama(server),
                                          _options(mode="schedule", search_budget=0))
        retry_prompt = server.requests[1]["body"]["prompt"]
    assert result.text == SCHEDULE_INPUT
    (unit,) = result.report.units
    assert [a.stage for a in unit.attempts] == ["cost", "extraction"]
    assert "loop-invariant-code-motion" in retry_prompt and "does not make the module cheaper" in retry_prompt
    assert "no allowed pass" in unit.reason


def test_report_is_json_serialisable(tmp_path):
    with llm_server.CannedLlmServer([CHANGES_RESULTS, GOOD_ANSWER]) as server:
        result = transform.transform_text(DOUBLE, _ollama(server), _options())
    path = tmp_path / "report.json"
    report.write_report(result.report, path)
    data = json.loads(path.read_text())
    assert data["format"] == report.REPORT_FORMAT
    assert data["units"][0]["attempts"][0]["checks"]["equivalence"] == "mismatch"
    assert data["aggregate"]["equivalence_ok_rate"] == 0.5
    assert data["backend"]["identity"].startswith("ollama:qwen2.5-coder@")


# --- the search floor -------------------------------------------------------------------------------

FOLDABLE = """func.func @fold(%arg0: i32) -> i32 {
  %c3 = arith.constant 3 : i32
  %c4 = arith.constant 4 : i32
  %0 = arith.addi %c3, %c4 : i32
  %1 = arith.addi %arg0, %0 : i32
  return %1 : i32
}
"""
# Valid and equivalent, but no cheaper than the input (the constants are only renamed).
SAME_COST_ANSWER = """```mlir
func.func @fold(%arg0: i32) -> i32 {
  %a = arith.constant 3 : i32
  %b = arith.constant 4 : i32
  %0 = arith.addi %b, %a : i32
  %1 = arith.addi %arg0, %0 : i32
  return %1 : i32
}
```"""


def test_search_mode_needs_no_model_and_keeps_a_cheaper_equivalent_module():
    result = transform.transform_text(SCHEDULE_INPUT, None, _options(mode="search"), source_name="s.mlir")
    module = ir.parse_module(result.text, ir.new_context())
    assert result.changed and [ir.symbol_name(f) for f in ir.functions(module)] == ["main"]
    units = {unit.name: unit for unit in result.report.units}
    assert set(units) == {"square", "unused", "main", "module"}
    whole = units["module"]
    assert whole.winner == "search" and whole.costs["search"] < whole.costs["input"]
    assert "inline" in whole.search_pipeline and "@main: same results" in whole.reason
    assert result.report.ops_after == ir.count_ops(module) < result.report.ops_before
    assert result.report.backend["kind"] == "none"


def test_the_floor_wins_over_a_valid_llm_answer_that_is_not_cheaper():
    with llm_server.CannedLlmServer([SAME_COST_ANSWER]) as server:
        result = transform.transform_text(FOLDABLE, _ollama(server), _options(task="simplify"))
    (unit,) = result.report.units
    assert unit.attempts[0].outcome == report.ACCEPTED
    assert unit.winner == "search" and unit.status == report.ACCEPTED
    assert unit.costs["search"] < unit.costs["llm"] == unit.costs["input"]
    assert "arith.constant 7 : i32" in result.text and "not below the search's" in unit.reason


def test_the_floor_stands_when_the_model_is_unreachable():
    backend = backends.OllamaBackend("qwen2.5-coder", "http://127.0.0.1:9", timeout_s=2)
    result = transform.transform_text(FOLDABLE, backend, _options(task="simplify"))
    (unit,) = result.report.units
    assert unit.winner == "search" and "arith.constant 7 : i32" in result.text
    assert unit.attempts[0].outcome == report.BACKEND_ERROR


def test_schedule_mode_keeps_the_floor_when_the_pipeline_is_useless():
    useless = '{"passes": ["loop-invariant-code-motion"]}'
    with llm_server.CannedLlmServer([useless, useless]) as server:
        result = transform.transform_text(SCHEDULE_INPUT, _ollama(server), _options(mode="schedule"))
    whole = result.report.units[-1]
    assert whole.name == "module" and whole.winner == "search"
    assert [ir.symbol_name(f) for f in ir.functions(ir.parse_module(result.text, ir.new_context()))] == ["main"]


def test_search_results_are_cached_and_a_corrupt_entry_is_rebuilt(tmp_path):
    results = transform.search_cache.SearchCache(tmp_path)
    first = transform.transform_text(FOLDABLE, None, _options(mode="search"), search_results=results)
    entries = sorted(tmp_path.glob("*/*.json"))
    assert entries and all(unit.search["cache"] == "miss" for unit in first.report.units)
    second = transform.transform_text(FOLDABLE, None, _options(mode="search"), search_results=results)
    assert second.text == first.text and all(unit.search["cache"] == "hit" for unit in second.report.units)
    for entry in entries:
        entry.write_text("{not json")
    third = transform.transform_text(FOLDABLE, None, _options(mode="search"), search_results=results)
    assert third.text == first.text and all(unit.search["cache"] == "corrupt" for unit in third.report.units)
    assert "arith.constant 7" in third.text


def test_passlib_disable_returns_the_input_and_loads_no_model(monkeypatch):
    monkeypatch.setenv(transform.DISABLE_VARIABLE, "1")
    backend = backends.IreeBackend("/nonexistent/bundle")
    result = transform.transform_text(FOLDABLE, backend, _options(task="simplify"))
    assert result.text == FOLDABLE and not result.changed
    assert result.report.result == "disabled" and "PASSLIB_DISABLE=1" in result.report.reason


def test_dry_run_records_prompt_and_answer_and_changes_nothing():
    with llm_server.CannedLlmServer([GOOD_ANSWER]) as server:
        result = transform.transform_text(DOUBLE, _ollama(server), _options(dry_run=True))
    assert result.text == DOUBLE and not result.changed
    (unit,) = result.report.units
    (attempt,) = unit.attempts
    assert "Reduce the strength" in attempt.prompt_text and attempt.answer_text == GOOD_ANSWER
    assert unit.winner == "input" and "dry run" in unit.reason


def test_free_text_task_reaches_the_prompt_and_best_of_samples_are_seeded():
    task = "Replace the multiplication by two with an addition of the argument to itself."
    with llm_server.CannedLlmServer([CHANGES_RESULTS, GOOD_ANSWER]) as server:
        result = transform.transform_text(DOUBLE, _ollama(server), _options(task=task, best_of=2, max_attempts=1))
        bodies = [request["body"] for request in server.requests]
    assert all(task in body["prompt"] for body in bodies)
    assert [body["options"]["seed"] for body in bodies] == [0, 1]
    (unit,) = result.report.units
    assert [a.sample for a in unit.attempts] == [0, 1] and unit.winner == "llm"
    assert "arith.addi %arg0, %arg0" in result.text


def test_auto_backend_finds_an_ollama_server_or_keeps_the_floor_with_the_reason(monkeypatch):
    monkeypatch.delenv(backends.OLLAMA_MODEL_VARIABLE, raising=False)
    nobody = backends.create_backend("auto", endpoint="http://127.0.0.1:9")
    assert isinstance(nobody, backends.UnavailableBackend) and "no Ollama server answers" in nobody.reason
    result = transform.transform_text(FOLDABLE, nobody, _options(task="simplify"))
    (unit,) = result.report.units
    assert unit.winner == "search" and "no Ollama server answers" in unit.attempts[0].diagnostic
    with llm_server.CannedLlmServer([SAME_COST_ANSWER]) as server:
        found = backends.create_backend("auto", endpoint=server.url)
        assert isinstance(found, backends.OllamaBackend)
        transform.transform_text(FOLDABLE, found, _options(task="simplify", max_attempts=1))
        assert [request["path"] for request in server.requests][-1] == "/api/generate"
