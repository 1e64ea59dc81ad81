"""End-to-end tests of `python -m passlib.cli` with a real HTTP server standing in for the LLM."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from passlib import cli, ir
from passlib.tests import llm_server
from passlib.tests.samples import DOUBLE, GOOD_ANSWER, SCHEDULE_INPUT, WRONG_SIGNATURE


def test_cli_rewrites_and_reports(tmp_path):
    source = tmp_path / "double.mlir"
    source.write_text(DOUBLE)
    output, report_path = tmp_path / "out" / "double.opt.mlir", tmp_path / "report.json"
    with llm_server.CannedLlmServer([GOOD_ANSWER]) as server:
        status = cli.main([str(source), "--task", "strength-reduce", "--backend", "ollama", "--model", "coder",
                           "--endpoint", server.url, "--cache", str(tmp_path / "cache"),
                           "-o", str(output), "--report", str(report_path)])
        assert status == 0
        cached = cli.main([str(source), "--task", "strength-reduce", "--backend", "ollama", "--model", "coder",
                           "--endpoint", server.url, "--cache", str(tmp_path / "cache"), "--cache-only",
                           "-o", str(tmp_path / "again.mlir"), "--report", str(tmp_path / "again.json")])
        assert cached == 0 and len(server.requests) == 1
    text = output.read_text()
    assert "arith.addi %arg0, %arg0" in text
    assert ir.verify(ir.parse_module(text, ir.new_context())) == []
    assert (tmp_path / "again.mlir").read_text() == text
    data = json.loads(report_path.read_text())
    assert data["result"] == "changed" and data["units"][0]["status"] == "accepted"
    assert data["aggregate"]["cache_misses"] == 1
    assert json.loads((tmp_path / "again.json").read_text())["aggregate"]["cache_hits"] == 1


def test_cli_strict_failure_writes_the_report_but_no_output(tmp_path, capsys):
    source = tmp_path / "double.mlir"
    source.write_text(DOUBLE)
    output, report_path = tmp_path / "out.mlir", tmp_path / "report.json"
    with llm_server.CannedLlmServer([WRONG_SIGNATURE]) as server:
        status = cli.main([str(source), "--backend", "openai", "--model", "coder",
                           "--endpoint", server.url + "/v1", "--strict", "--max-attempts", "1",
                           "-o", str(output), "--report", str(report_path)])
    assert status == 1
    assert not output.exists()
    assert json.loads(report_path.read_text())["result"] == "error"
    assert "strict mode" in capsys.readouterr().err


def test_cli_without_a_server_copies_the_input(tmp_path):
    source = tmp_path / "double.mlir"
    source.write_text(DOUBLE)
    output, report_path = tmp_path / "out.mlir", tmp_path / "report.json"
    status = cli.main([str(source), "--backend", "ollama", "--model", "coder",
                       "--endpoint", f"127.0.0.1:{llm_server.unused_port()}",
                       "-o", str(output), "--report", str(report_path)])
    assert status == 0
    assert output.read_bytes() == source.read_bytes()
    data = json.loads(report_path.read_text())
    assert data["result"] == "unchanged" and "unreachable" in data["reason"]


def test_cli_bad_arguments_and_bad_input(tmp_path, capsys):
    source = tmp_path / "bad.mlir"
    source.write_text("func.func @f(%x: i32) -> i32 {\n  return %y : i32\n}\n")
    common = ["--backend", "ollama", "--model", "m", "-o", str(tmp_path / "o.mlir"),
              "--report", str(tmp_path / "r.json")]
    assert cli.main([str(source), *common]) == 2
    assert "bad.mlir" in capsys.readouterr().err
    source.write_text(DOUBLE)
    assert cli.main([str(source), "--task", "no-such-task", *common]) == 2
    assert "strength-reduce" in capsys.readouterr().err
    assert cli.main([str(source), "--mode", "schedule", "--passes", "canonicalize,sccp", *common]) == 2
    assert "allow-list" in capsys.readouterr().err
    assert cli.main([str(tmp_path / "missing.mlir"), *common]) == 2


def test_cli_as_a_process_in_schedule_mode(tmp_path):
    source = tmp_path / "calls.mlir"
    source.write_text(SCHEDULE_INPUT)
    output, report_path = tmp_path / "calls.opt.mlir", tmp_path / "report.json"
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    with llm_server.CannedLlmServer(['{"passes": ["inline", "canonicalize", "cse", "symbol-dce"]}']) as server:
        completed = subprocess.run(
            [sys.executable, "-m", "passlib.cli", str(source), "--mode", "schedule", "--backend", "ollama",
             "--model", "coder", "--endpoint", server.url, "-o", str(output), "--report", str(report_path)],
            capture_output=True, text=True, env=environment, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    assert "changed" in completed.stdout
    data = json.loads(report_path.read_text())
    module_unit = data["units"][-1]
    assert module_unit["name"] == "module"
    assert module_unit["attempts"][0]["pipeline"] == ["inline", "canonicalize", "cse", "symbol-dce"]
    # The LLM's pipeline and the search's floor reach the same cost here: the floor is kept on a tie.
    assert module_unit["winner"] == "search" and module_unit["costs"]["llm"] == module_unit["costs"]["search"]
    assert data["ops_after"] < data["ops_before"]
    assert "@square" not in output.read_text()


def test_cli_search_mode_needs_no_backend(tmp_path):
    source = tmp_path / "calls.mlir"
    source.write_text(SCHEDULE_INPUT)
    output, report_path = tmp_path / "out.mlir", tmp_path / "report.json"
    assert cli.main([str(source), "--mode", "search", "--search-budget", "30", "--cost", "ops",
                     "-o", str(output), "--report", str(report_path)]) == 0
    data = json.loads(report_path.read_text())
    assert data["backend"]["kind"] == "none" and data["ops_after"] < data["ops_before"]
    assert data["units"][-1]["search"]["runs"] <= 30


def test_subcommands_share_their_options_and_a_file_named_serve_is_a_transform_input(tmp_path, monkeypatch):
    parser = cli.build_parser()
    commands = next(action for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    transform_help = {a.dest: a.help for a in commands.choices["transform"]._actions}
    evaluate_help = {a.dest: a.help for a in commands.choices["evaluate"]._actions}
    shared = set(transform_help) & set(evaluate_help) - {"help", "report"}
    assert {"backend", "model", "max_new_tokens", "search_budget", "no_equivalence"} <= shared
    assert all(transform_help[dest] == evaluate_help[dest] for dest in shared)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "serve").write_text(SCHEDULE_INPUT)
    assert cli.main(["transform", "serve", "--mode", "search", "-o", "out.mlir", "--report", "r.json"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["input"] == "serve"


# Hostile input through the real command line: a process, a real HTTP server, the bytes on the wire.
_CLI_TIMEOUT_S = 120


def _run_cli(*arguments: str) -> tuple[subprocess.CompletedProcess, float]:
    """Runs `python -m passlib.cli` and returns it with its wall time (fails the test if it hangs)."""
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    started = time.monotonic()
    completed = subprocess.run([sys.executable, "-m", "passlib.cli", *arguments], capture_output=True, text=True,
                               env=environment, timeout=_CLI_TIMEOUT_S, check=False)
    return completed, time.monotonic() - started


def _rewrite_against(url: str, tmp_path: pathlib.Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    """The CLI rewriting DOUBLE with an Ollama backend at `url` (no floor, no execution check)."""
    source = tmp_path / "double.mlir"
    source.write_text(DOUBLE)
    output, report_path = tmp_path / "out.mlir", tmp_path / "report.json"
    completed, _ = _run_cli(str(source), "--backend", "ollama", "--model", "coder", "--endpoint", url,
                            "--search-budget", "0", "--no-equivalence", "--max-attempts", "1",
                            "-o", str(output), "--report", str(report_path), *extra)
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    assert output.read_text() == DOUBLE
    return completed, json.loads(report_path.read_text())


def test_cli_gives_up_on_a_dribbling_server_at_its_total_deadline(tmp_path):
    response = llm_server.http_response(json.dumps({"response": GOOD_ANSWER}).encode())
    split = response.index(b"\r\n\r\n") + 4
    steps = [(response[:split], 0.0), *llm_server.dribbled(response[split:], 0.5)]
    with llm_server.ScriptedHttpServer(steps) as server:
        started = time.monotonic()
        _, data = _rewrite_against(server.url, tmp_path, "--timeout", "2")
    # The body alone takes minutes to dribble; the CLI stops after 2 s of it.
    assert time.monotonic() - started < 60
    assert data["result"] == "unchanged" and "timeout" in data["reason"]


HOSTILE_BODIES = {
    "bad_status_line": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "truncated_body": b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b'{"response": "fun',
    "not_utf8": llm_server.http_response(b'{"response": "\xff\xfe"}'),
    "deeply_nested_json": llm_server.http_response(b'{"response": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "integer_too_long": llm_server.http_response(b'{"response": "x", "eval_count": ' + b"9" * 5000 + b"}"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_cli_hostile_responses_leave_the_input_unchanged_with_the_reason(tmp_path, name):
    with llm_server.ScriptedHttpServer([(HOSTILE_BODIES[name], 0.0)]) as server:
        _, data = _rewrite_against(server.url, tmp_path)
    assert data["result"] == "unchanged" and "protocol" in data["reason"]


def test_cli_backtracking_bait_answer_is_rejected_quickly(tmp_path):
    with llm_server.CannedLlmServer(["```" + " " * 1_000_000 + "`"]) as server:
        started = time.monotonic()
        _, data = _rewrite_against(server.url, tmp_path)
    assert time.monotonic() - started < 60
    assert data["result"] == "unchanged" and "no MLIR function" in data["reason"]


def test_cli_caches_an_answer_with_a_lone_surrogate_and_reads_it_back(tmp_path):
    answer = GOOD_ANSWER.replace("is cheaper", "is cheaper \ud800").replace("return %0", "return %0 // \udfff")
    body = json.dumps({"response": answer}).encode()  # JSON escapes the surrogates as \ud800
    cache_directory = str(tmp_path / "cache")
    with llm_server.ScriptedHttpServer([(llm_server.http_response(body), 0.0)]) as server:
        _, first = _rewrite_against(server.url, tmp_path, "--cache", cache_directory)
        _, again = _rewrite_against(server.url, tmp_path, "--cache", cache_directory, "--cache-only")
        assert len(server.requests) == 1
    (attempt,) = first["units"][0]["attempts"]
    (cached,) = again["units"][0]["attempts"]
    assert attempt["cache"] == "miss" and cached["cache"] == "hit"
    # The cached answer met the same checks as the fresh one, with the same verdict.
    assert (cached["stage"], cached["diagnostic"]) == (attempt["stage"], attempt["diagnostic"])
    assert "surrogate" in attempt["diagnostic"]


def _input_error(tmp_path: pathlib.Path, source: pathlib.Path, *extra: str) -> str:
    """Runs the CLI on `source` expecting exit 2; returns its one line of stderr."""
    completed, _ = _run_cli(str(source), "--mode", "search", "-o", str(tmp_path / "o.mlir"),
                            "--report", str(tmp_path / "r.json"), *extra)
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    return lines[0]


def test_cli_input_that_is_not_utf8_is_named_in_one_line(tmp_path):
    source = tmp_path / "latin1.mlir"
    source.write_bytes(DOUBLE.replace("Produced", "Produit à").encode("latin-1"))
    line = _input_error(tmp_path, source)
    assert "latin1.mlir" in line and "UTF-8" in line


def test_cli_input_that_cannot_be_read_is_named_in_one_line(tmp_path):
    line = _input_error(tmp_path, tmp_path)
    assert str(tmp_path) in line


def test_cli_a_cache_or_output_path_that_cannot_be_used_is_one_line(tmp_path):
    source = tmp_path / "double.mlir"
    source.write_text(DOUBLE)
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    line = _input_error(tmp_path, source, "--cache", str(blocker))
    assert "a_file" in line
    completed, _ = _run_cli(str(source), "--mode", "search", "--search-budget", "1", "-o", str(tmp_path),
                            "--report", str(tmp_path / "r.json"))
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr
