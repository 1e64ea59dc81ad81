"""Systems compared on a fast subset of the task set: none is unsafe, the search beats the fixed pipeline,
and the judge does catch an output that computes something else; pass-manager runs, the share of the
search's result, --systems, and two models side by side (a real HTTP server with canned answers)."""

from __future__ import annotations

import json

import pytest

from passlib import cli, compare, evaluate, report, validate
from passlib.tests import llm_server

SUBSET = ("cf_add_constants", "dc_unused_values", "sched_inline_helpers", "sched_constant_argument",
          "sched_common_subexpressions", "sr_mul_by_four")


def _tasks() -> list[evaluate.EvalTask]:
    tasks = {task.name: task for task in evaluate.load_task_set()}
    return [tasks[name] for name in SUBSET]


def test_no_system_is_unsafe_and_the_search_improves_more_than_canonicalize_cse():
    tasks = _tasks()
    chosen = compare.systems([], None, evaluate.EvaluationOptions(), budgets=(10,))
    outcomes = compare.compare(tasks, chosen, validate.ValidationOptions())
    rows = {row["system"]: row for row in compare.summarize(outcomes, tasks)}
    assert all(row["unsafe"] == 0 for row in rows.values()), rows
    assert rows["identity"]["improved"] == 0
    assert rows["search@10"]["improved"] > rows["canonicalize,cse"]["improved"]
    assert rows["search@10"]["share_of_best"] == 1.0
    assert rows["identity"]["pm_runs"] == 0 and rows["search@10"]["pm_runs"] > 0
    # No search@1000 ran: there is no search result to measure a share of.
    assert all(row["share_of_search"] is None for row in rows.values())
    table = compare.format_table(list(rows.values()), {name: what for name, (_, what) in chosen.items()})
    assert table.count("\n") == len(rows) + 1


def test_the_judge_marks_an_output_that_computes_something_else_unsafe():
    (task,) = [task for task in _tasks() if task.name == "sr_mul_by_four"]
    text = task.input.read_text()
    wrong = text.replace("arith.muli", "arith.addi")
    assert wrong != text
    outcome = compare.Outcome(task.name, wrong, 0.0)
    compare.Judge(validate.ValidationOptions()).judge(task, text, outcome)
    assert not outcome.safe and "mismatch" in outcome.unsafe_reason


def test_pass_manager_runs_count_the_searchs_runs_and_each_llm_pipeline_applied():
    unit = report.UnitReport("module", report.ACCEPTED, search={"cache": "miss", "runs": 7},
                             attempts=[report.Attempt(0, report.REJECTED, pipeline=["cse"]),
                                       report.Attempt(1, report.REJECTED, pipeline=[]),
                                       report.Attempt(2, report.BACKEND_ERROR)])
    replayed = report.UnitReport("@f", report.ACCEPTED, search={"cache": "hit"})
    no_floor = report.UnitReport("@g", report.REJECTED)
    run = report.RunReport("<input>", "schedule", None, {}, False, units=[unit, replayed, no_floor])
    assert compare.pass_manager_runs(run) == 8


def test_selection_runs_only_the_chosen_systems_and_counts_pass_manager_runs(monkeypatch):
    def not_selected(*args):
        raise AssertionError("best-fixed was computed although not selected")

    monkeypatch.setattr(compare, "best_fixed_pipeline", not_selected)
    tasks = _tasks()[:2]
    names = compare.select_systems("identity,canonicalize,cse,search@1*", compare.system_names(budgets=(10, 1000)))
    assert names == ["identity", "canonicalize,cse", "search@10", "search@1000"]
    chosen = compare.systems([evaluate.load_task_set()[0]], None, evaluate.EvaluationOptions(check_equivalence=False),
                             budgets=(10, 1000), only=names)
    assert list(chosen) == names
    outcomes = compare.compare(tasks, chosen, validate.ValidationOptions(check_equivalence=False))
    rows = {row["system"]: row for row in compare.summarize(outcomes, tasks)}
    assert rows["identity"]["pm_runs"] == 0
    assert rows["canonicalize,cse"]["pm_runs"] == len(tasks)
    assert rows["search@1000"]["pm_runs"] == sum(compare.pass_manager_runs(o.run_report)
                                                 for o in outcomes["search@1000"]) > 0
    assert rows["search@1000"]["pm_runs"] >= rows["search@10"]["pm_runs"] > 0
    assert rows["search@1000"]["share_of_search"] == 1.0 and rows["identity"]["share_of_search"] == 0.0
    assert all(row["llm"] is None for row in rows.values())
    assert compare.format_answer_table(list(rows.values())) == ""


def test_two_models_side_by_side_are_named_apart_with_their_answer_statistics(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(compare, "best_fixed_pipeline", lambda *args: pytest.fail("best-fixed was not selected"))
    report_path = tmp_path / "compare.json"
    with llm_server.CannedLlmServer(['{"passes": ["canonicalize", "cse"]}']) as server:
        status = cli.main(["evaluate", "--compare", "--tasks", str(evaluate.DEFAULT_TASK_SET), "--limit", "2",
                           "--backend", "ollama", "--model", "base", "--model", "specialist",
                           "--endpoint", server.url, "--max-attempts", "1", "--no-equivalence",
                           "--systems", "identity,search@1000,schedule*,rewrite*", "--report", str(report_path)])
        requests = list(server.requests)
    assert status == 0
    assert {request["body"]["model"] for request in requests} == {"base", "specialist"}
    data = json.loads(report_path.read_text())
    assert data["backend"] is None and set(data["backends"]) == {"base", "specialist"}
    rows = {row["system"]: row for row in data["rows"]}
    assert list(rows) == ["identity", "search@1000",
                          "schedule[base]", "rewrite[base]", "schedule+floor[base]",
                          "schedule[specialist]", "rewrite[specialist]", "schedule+floor[specialist]"]
    assert rows["identity"]["pm_runs"] == 0 and rows["identity"]["llm"] is None
    assert rows["search@1000"]["pm_runs"] > 0 and rows["search@1000"]["share_of_search"] == 1.0
    for model in ("base", "specialist"):
        schedule_row, rewrite_row = rows[f"schedule[{model}]"], rows[f"rewrite[{model}]"]
        # One pipeline applied per task and no floor; with the floor, the search's runs as well.
        assert schedule_row["pm_runs"] == 2
        assert rows[f"schedule+floor[{model}]"]["pm_runs"] > 2
        assert rewrite_row["pm_runs"] == 0
        assert schedule_row["llm"]["answers"] == 2 and schedule_row["llm"]["parsed"]["rate"] == 1.0
        assert schedule_row["llm"]["verified"]["rate"] == 1.0
        # A list of passes is no MLIR: the rewrites are answered but nothing parses or is accepted.
        assert rewrite_row["llm"]["answers"] == 2 and rewrite_row["llm"]["parsed"]["count"] == 0
        assert rewrite_row["llm"]["accepted"]["count"] == 0 and rewrite_row["improved"] == 0
        assert all(row["unsafe"] == 0 for row in rows.values())
    printed = capsys.readouterr().out
    assert "| schedule[specialist] |" in printed and "| system | units tried | answers | parsed |" in printed
    assert "share of search@1000 | pm runs |" in printed


def test_best_of_samples_seeded_answers_and_applies_each_pipeline(tmp_path, capsys):
    report_path = tmp_path / "compare.json"
    # The first sample names no allowed pass, the other two a pipeline: the best valid one counts.
    answers = ['{"passes": []}', '{"passes": ["canonicalize", "cse"]}', '{"passes": ["cse"]}']
    with llm_server.CannedLlmServer(answers) as server:
        status = cli.main(["evaluate", "--compare", "--tasks", str(evaluate.DEFAULT_TASK_SET), "--limit", "1",
                           "--backend", "ollama", "--model", "specialist", "--endpoint", server.url,
                           "--max-attempts", "1", "--best-of", "3", "--no-equivalence",
                           "--systems", "schedule", "--report", str(report_path)])
        requests = list(server.requests)
    assert status == 0, capsys.readouterr().err
    # --limit 1: one task, one attempt, three samples.
    assert len(requests) == 3
    options = [request["body"]["options"] for request in requests]
    assert [o["seed"] for o in options] == [0, 1, 2] and all(o["temperature"] > 0 for o in options)
    data = json.loads(report_path.read_text())
    (row,) = data["rows"]
    # Two of the three samples named passes: two pipelines applied, none for the empty answer.
    assert row["pm_runs"] == 2 and row["llm"]["answers"] == 3
    assert "best of 3 sampled answers" in data["systems"]["schedule"]


def test_model_and_systems_arguments_that_cannot_work_fail_clearly(tmp_path, capsys):
    report_path = str(tmp_path / "compare.json")
    assert cli.main(["evaluate", "--compare", "--systems", "identity,searchh*,schedule", "--report", report_path]) == 2
    error = capsys.readouterr().err
    assert "'searchh*', 'schedule' match no system" in error and "search@1000" in error
    assert cli.main(["evaluate", "--backend", "ollama", "--model", "a", "--model", "b", "--report", report_path]) == 2
    assert "only evaluate --compare runs several models" in capsys.readouterr().err
    assert cli.main(["evaluate", "--compare", "--model", str(tmp_path / "x" / "m"), "--model", str(tmp_path / "m"),
                     "--report", report_path]) == 2
    assert "two --model values are named 'm'" in capsys.readouterr().err
    assert cli.main(["evaluate", "--systems", "identity", "--backend", "ollama", "--model", "a",
                     "--report", report_path]) == 2
    assert "add --compare" in capsys.readouterr().err
    assert not (tmp_path / "compare.json").exists()
