"""Passes that crash on valid input run in passlib's worker process: left out, never a crash of passlib."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from passlib import backends, ir, schedule, search, search_worker, transform
from passlib.tests import llm_server

CRASHING_PASS = "linalg-specialize-generic-ops"
# Valid IR on which IREE 3.8's linalg-specialize-generic-ops takes a SIGSEGV (a scalar operand with
# the map (d0, d1) -> ()); the duplicated tensor.empty gives the search something to remove.
SCALAR_OPERAND_GENERIC = """#identity = affine_map<(d0, d1) -> (d0, d1)>
#scalar = affine_map<(d0, d1) -> ()>
func.func @shift(%a: tensor<4x8xf32>, %s: f32) -> tensor<4x8xf32> {
  %unused = tensor.empty() : tensor<4x8xf32>
  %e = tensor.empty() : tensor<4x8xf32>
  %0 = linalg.generic {indexing_maps = [#identity, #scalar, #identity], iterator_types = ["parallel", "parallel"]}
      ins(%a, %s : tensor<4x8xf32>, f32) outs(%e : tensor<4x8xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %1 = arith.addf %x, %y : f32
    linalg.yield %1 : f32
  } -> tensor<4x8xf32>
  return %0 : tensor<4x8xf32>
}
"""


def _options(**changes) -> transform.TransformOptions:
    settings = dict(max_attempts=1, decoding=backends.DecodingOptions(max_new_tokens=256), context_tokens=4096)
    settings.update(changes)
    return transform.TransformOptions(**settings)


@pytest.fixture
def crashing_worker(monkeypatch):
    """The shared worker restarted so that it takes a real SIGSEGV before running CRASHING_PASS (the
    upstream crash is real but not deterministic: the pass reads freed memory)."""
    monkeypatch.setenv(search_worker.CRASH_ON_PASS_VARIABLE, CRASHING_PASS)
    search_worker.shared().close()
    yield search_worker.shared()
    monkeypatch.delenv(search_worker.CRASH_ON_PASS_VARIABLE)
    search_worker.shared().close()


def test_the_upstream_pass_crashes_a_process_that_runs_it_itself():
    # Why the worker exists: in-process, this pass on this input takes the process down (most runs).
    script = ("import sys\nfrom passlib import ir, schedule\n"
              "module = ir.parse_module(sys.stdin.read(), ir.new_context())\n"
              f"schedule.apply_pipeline(module, [{CRASHING_PASS!r}], schedule.allowed_passes())\n")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    codes = [subprocess.run([sys.executable, "-c", script], input=SCALAR_OPERAND_GENERIC, text=True,
                            capture_output=True, timeout=120, check=False, env=environment).returncode
             for _ in range(3)]
    assert -signal.SIGSEGV in codes and all(code in (0, -signal.SIGSEGV) for code in codes)


def test_the_search_leaves_out_a_pass_that_crashes_and_still_improves_the_unit(crashing_worker):
    result = transform.transform_text(SCALAR_OPERAND_GENERIC, None, _options(mode="search"), source_name="shift.mlir")
    assert result.changed and result.text.count("tensor.empty") == 1
    (function_unit, module_unit) = result.report.units
    assert function_unit.search["crashed_passes"] == [f"{CRASHING_PASS}: killed by SIGSEGV"]
    assert function_unit.winner == "search" and module_unit.search["crashed_passes"] == function_unit.search["crashed_passes"]


def test_an_llm_pipeline_that_crashes_is_a_rejected_attempt(crashing_worker):
    answer = '{"passes": ["cse", "%s"]}' % CRASHING_PASS
    with llm_server.CannedLlmServer([answer]) as server:
        backend = backends.OllamaBackend("coder", server.url, timeout_s=10)
        result = transform.transform_text(SCALAR_OPERAND_GENERIC, backend, _options(mode="schedule"))
    module_unit = result.report.units[-1]
    (attempt,) = module_unit.attempts
    assert attempt.stage == "pipeline" and "killed by SIGSEGV" in attempt.diagnostic
    assert module_unit.winner == "search" and result.text.count("tensor.empty") == 1


def test_the_worker_is_replaced_after_a_crash_and_keeps_working(crashing_worker):
    module = ir.parse_module(SCALAR_OPERAND_GENERIC, ir.new_context())
    allowed = schedule.allowed_passes()
    crashed = crashing_worker.apply_pipeline(module, [CRASHING_PASS], allowed)
    assert crashed.module is None and "killed by SIGSEGV" in str(crashed.diagnostics[0])
    fine = crashing_worker.apply_pipeline(module, ["cse"], allowed)
    assert fine.module is not None and fine.ops_after == ir.count_ops(module) - 1
    result = crashing_worker.search(module, allowed, search.SearchOptions(budget=40))
    assert result.crashed == [f"{CRASHING_PASS}: killed by SIGSEGV"] and result.best.cost < result.initial.cost
    assert ir.verify(result.best.module) == []


def test_a_worker_past_its_deadline_is_killed_and_replaced():
    worker = search_worker.SearchWorker()
    try:
        module = ir.parse_module(SCALAR_OPERAND_GENERIC, ir.new_context())
        allowed = schedule.allowed_passes()
        late = worker.apply_pipeline(module, ["cse"], allowed, timeout_s=0.001)
        assert late.module is None and "ran longer than 0.001 s" in str(late.diagnostics[0])
        assert worker.apply_pipeline(module, ["cse"], allowed).module is not None
    finally:
        worker.close()
