"""The search itself: bounded, deterministic, filtered, with either cost."""

from __future__ import annotations

from passlib import evaluate, ir, schedule, search

TASKS = evaluate.DEFAULT_TASK_SET / "inputs"


def _module(name: str):
    return ir.parse_module((TASKS / f"{name}.mlir").read_text(), ir.new_context())


def test_search_is_deterministic_and_respects_its_budget():
    allowed = schedule.allowed_passes()
    runs = [search.search(_module("sched_common_subexpressions"), allowed, search.SearchOptions(budget=25))
            for _ in range(2)]
    assert [s.pipeline for s in runs[0].ranked] == [s.pipeline for s in runs[1].ranked]
    assert all(run.runs <= 25 and run.stopped == "budget" for run in runs)
    best = runs[0].best
    assert best.cost < runs[0].initial.cost == ir.count_ops(_module("sched_common_subexpressions"))
    assert ir.verify(best.module) == []


def test_a_zero_budget_keeps_the_input_and_keep_filters_states():
    allowed = schedule.allowed_passes()
    module = _module("sched_unused_private_functions")
    assert search.search(module, allowed, search.SearchOptions(budget=0)).ranked[0].pipeline == ()

    def keeps_every_function(candidate) -> bool:
        return len(ir.functions(candidate)) == len(ir.functions(module))

    result = search.search(module, allowed, search.SearchOptions(budget=100), keep=keeps_every_function)
    assert all(len(ir.functions(state.module)) == len(ir.functions(module)) for state in result.ranked)


def test_dispatch_cost_counts_what_iree_forms():
    dispatches = search.COSTS["dispatches"]
    # Two elementwise linalg.generic ops: IREE's dispatch formation fuses them into one by itself,
    # so no allowed pass can lower this cost (what the search reports, too).
    assert dispatches.measure(_module("sched_elementwise_fusion")) == 1
    allowed = schedule.allowed_passes(["canonicalize", "cse", "linalg-fuse-elementwise-ops"])
    result = search.search(_module("sched_elementwise_fusion"), allowed,
                           search.SearchOptions(budget=6, cost="dispatches"))
    assert result.best.cost == result.initial.cost == 1
    matmul_then_sum = ir.parse_module("""
func.func @f(%a: tensor<4x8xf32>, %b: tensor<8x4xf32>) -> tensor<4xf32> {
  %zero = arith.constant 0.0 : f32
  %init = tensor.empty() : tensor<4x4xf32>
  %filled = linalg.fill ins(%zero : f32) outs(%init : tensor<4x4xf32>) -> tensor<4x4xf32>
  %product = linalg.matmul ins(%a, %b : tensor<4x8xf32>, tensor<8x4xf32>) outs(%filled : tensor<4x4xf32>) -> tensor<4x4xf32>
  %rows = tensor.empty() : tensor<4xf32>
  %rows0 = linalg.fill ins(%zero : f32) outs(%rows : tensor<4xf32>) -> tensor<4xf32>
  %sum = linalg.reduce ins(%product : tensor<4x4xf32>) outs(%rows0 : tensor<4xf32>) dimensions = [1]
    (%in: f32, %acc: f32) {
      %s = arith.addf %in, %acc : f32
      linalg.yield %s : f32
    }
  return %sum : tensor<4xf32>
}
""", ir.new_context())
    assert dispatches.measure(matmul_then_sum) == 2


def test_unknown_cost_and_negative_budget_are_refused():
    for bad in (dict(budget=-1), dict(budget=1, cost="speed")):
        try:
            search.SearchOptions(**bad)
        except ValueError as error:
            assert "budget" in str(error) or "ops, dispatches" in str(error)
        else:
            raise AssertionError(f"{bad} was accepted")
