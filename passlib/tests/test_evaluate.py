"""`python -m passlib.cli evaluate` end to end, with a real HTTP server giving canned model answers.

Three tasks of the committed set, one answer each: an equivalent rewrite that meets the limits
(improved), a rewrite that changes the results (rejected when run), and a pipeline that shrinks the
module but not to the limit (accepted, not improved).
"""

from __future__ import annotations

import json
import shutil

from passlib import cli, evaluate
from passlib.tests import llm_server

TASK_NAMES = ("cf_add_constants", "sr_mul_by_four", "sched_common_subexpressions")
WRONG_SHIFT = """A shift is cheaper than a multiplication:
```mlir
func.func @times_four(%arg0: i32) -> i32 {
  %c3_i32 = arith.constant 3 : i32
  %0 = arith.shli %arg0, %c3_i32 : i32
  return %0 : i32
}
```"""


def _task_set(directory):
    """A task set in `directory` holding TASK_NAMES, in that order, copied from the committed one."""
    document = json.loads((evaluate.DEFAULT_TASK_SET / evaluate.TASKS_FILE).read_text())
    entries = {entry["name"]: entry for entry in document["tasks"]}
    chosen = [entries[name] for name in TASK_NAMES]
    for entry in chosen:
        for field in ("input", "reference"):
            if field in entry:
                target = directory / entry[field]
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(evaluate.DEFAULT_TASK_SET / entry[field], target)
    (directory / evaluate.TASKS_FILE).write_text(json.dumps({"format": 1, "tasks": chosen}))
    return chosen


def test_evaluate_reports_rates_latency_and_per_task_outcomes(tmp_path, capsys):
    task_dir = tmp_path / "tasks"
    chosen = _task_set(task_dir)
    right_answer = "```mlir\n" + (task_dir / chosen[0]["reference"]).read_text() + "```\n"
    answers = [right_answer, WRONG_SHIFT, '{"passes": ["cse"]}']
    report_path = tmp_path / "eval.json"
    with llm_server.CannedLlmServer(answers) as server:
        status = cli.main(["evaluate", "--tasks", str(task_dir), "--backend", "ollama", "--model", "coder",
                           "--endpoint", server.url, "--max-attempts", "1", "--search-budget", "0",
                           "--report", str(report_path)])
        requests = list(server.requests)
    assert status == 0
    assert [request["path"] for request in requests] == ["/api/generate"] * 3
    data = json.loads(report_path.read_text())
    assert data["backend"]["identity"] == f"ollama:coder@{server.url}"
    tasks = {task["name"]: task for task in data["tasks"]}
    assert tasks["cf_add_constants"]["status"] == "improved" and tasks["cf_add_constants"]["improved"]
    wrong = tasks["sr_mul_by_four"]
    assert wrong["status"] == "not_accepted" and not wrong["improved"]
    assert wrong["run"]["units"][0]["attempts"][0]["checks"]["equivalence"] == "mismatch"
    pipeline = tasks["sched_common_subexpressions"]
    assert pipeline["status"] == "accepted" and not pipeline["improved"]
    assert pipeline["shortfalls"] == ["7 operations, the limit is 5"]
    summary = data["summary"]
    assert summary["tasks"] == 3 and summary["answers"] == 3 and summary["backend_errors"] == 0
    assert summary["parsed"] == {"count": 3, "total": 3, "rate": 1.0}
    assert summary["verified"]["count"] == 3
    # The schedule answer's pipeline is executed too (equivalent), the wrong rewrite is not.
    assert summary["equivalent"] == {"count": 2, "total": 3, "rate": 0.6667}
    assert summary["accepted"]["count"] == 2 and summary["improved"]["count"] == 1
    latency = summary["task_latency_s"]
    assert 0 < latency["p50"] <= latency["max"] and latency["mean"] <= latency["max"]
    assert summary["by_kind"]["constant-folding"] == {"tasks": 1, "accepted": 1, "improved": 1}
    printed = capsys.readouterr().out
    assert "improved:     1/3 tasks (33.3%)" in printed
    assert "equivalence:  2/3 runs (66.7%)" in printed
    assert "task latency: mean" in printed and f"report: {report_path}" in printed


def test_limit_and_kind_select_tasks_and_bad_arguments_fail_clearly(tmp_path, capsys):
    task_dir = tmp_path / "tasks"
    _task_set(task_dir)
    report_path = tmp_path / "eval.json"
    with llm_server.CannedLlmServer(["I cannot improve this function."]) as server:
        assert cli.main(["evaluate", "--tasks", str(task_dir), "--backend", "openai", "--model", "coder",
                         "--endpoint", server.url + "/v1", "--max-attempts", "1", "--limit", "1",
                         "--report", str(report_path)]) == 0
        assert len(server.requests) == 1
        assert cli.main(["evaluate", "--tasks", str(task_dir), "--backend", "openai", "--model", "coder",
                         "--endpoint", server.url + "/v1", "--max-attempts", "1", "--kind", "pass-scheduling",
                         "--report", str(report_path)]) == 0
    data = json.loads(report_path.read_text())
    assert [task["name"] for task in data["tasks"]] == ["sched_common_subexpressions"]
    # The LLM named no pass, and the search floor (on by default) still met the task's limit.
    assert data["tasks"][0]["status"] == "improved"
    assert data["tasks"][0]["run"]["units"][-1]["winner"] == "search"
    capsys.readouterr()
    assert cli.main(["evaluate", "--tasks", str(tmp_path / "nowhere"), "--backend", "ollama", "--model", "m",
                     "--report", str(report_path)]) == 2
    assert "tasks.json does not exist" in capsys.readouterr().err
    assert cli.main(["evaluate", "--backend", "iree", "--report", str(report_path)]) == 2
    assert "--model BUNDLE_DIR" in capsys.readouterr().err
