"""Untrusted MLIR in limited child processes: a parser crash is a rejection, children hold no secrets."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import pytest

from passlib import ir, sandbox, validate
from passlib.tests import llm_server
from passlib.tests.samples import DOUBLE

# Measured with IREE 3.8's bindings: nesting 40,000 deep overflows an 8 MiB stack in the parser.
CRASHING_DEPTH = 60_000


def nested_type(depth: int) -> str:
    return "tuple<" * depth + "i32" + ">" * depth


def function_with_nested_types(depth: int) -> str:
    """`@double` with an unused argument of a type nested `depth` deep (only the parser sees it)."""
    return ("func.func @double(%arg0: i32, %unused: " + nested_type(depth) + ") -> i32 {\n"
            "  %0 = arith.addi %arg0, %arg0 : i32\n  return %0 : i32\n}\n")


def python_environment() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(path for path in sys.path if path))


def test_the_nested_answer_crashes_a_process_that_parses_it_itself():
    # The premise of the other tests: without the sandbox the parser takes this process down.
    text = nested_type(CRASHING_DEPTH)
    script = ("import sys\nfrom iree.compiler import ir\n"
              "ir.Module.parse('func.func private @f(' + sys.stdin.read() + ')', ir.Context())\n")
    completed = subprocess.run([sys.executable, "-c", script], input=text, capture_output=True, text=True,
                               env=python_environment(), timeout=120, check=False)
    assert completed.returncode < 0, completed.stderr[-500:]


def test_validation_rejects_an_answer_the_parser_cannot_survive():
    module = ir.parse_module(DOUBLE, ir.new_context())
    validation = validate.Validator().validate_rewrite(module, "double", function_with_nested_types(CRASHING_DEPTH))
    assert not validation.accepted and validation.stage == validate.PARSE
    assert "did not survive this text in a sandbox (killed by SIGSEGV)" in validation.diagnostic


def test_the_cli_returns_its_input_when_the_answer_would_crash_the_parser(tmp_path):
    source, output, report_path = tmp_path / "double.mlir", tmp_path / "out.mlir", tmp_path / "report.json"
    source.write_text(DOUBLE)
    with llm_server.CannedLlmServer(["```mlir\n" + function_with_nested_types(CRASHING_DEPTH) + "```\n"]) as server:
        completed = subprocess.run(
            [sys.executable, "-m", "passlib.cli", "transform", str(source), "--task", "strength-reduce",
             "--backend", "ollama", "--model", "coder", "--endpoint", server.url, "--max-attempts", "1",
             "-o", str(output), "--report", str(report_path)],
            capture_output=True, text=True, env=python_environment(), timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert output.read_text() == source.read_text()
    unit = json.loads(report_path.read_text())["units"][0]
    assert unit["status"] != "accepted"
    assert "killed by SIGSEGV" in json.dumps(unit)


def test_a_moderately_nested_answer_still_parses_in_process():
    # The sandbox refuses only what its smaller stack cannot take; ordinary nesting passes.
    assert sandbox.parse_check("func.func private @f(" + nested_type(200) + ")") is None
    module = ir.parse_module("func.func private @f(" + nested_type(200) + ")", ir.new_context(), untrusted=True)
    assert len(ir.functions(module)) == 1


def test_a_lone_surrogate_is_a_parse_error():
    with pytest.raises(ir.IrError) as raised:
        ir.parse_module("func.func private @f() // \udc80\n", ir.new_context(), "answer", untrusted=True)
    assert raised.value.stage == ir.PARSE_STAGE and "lone surrogate" in str(raised.value)


def test_children_get_no_credentials(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    monkeypatch.setenv("HF_TOKEN", "hf-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("https_proxy", "http://user:pw@proxy:3128")
    monkeypatch.setenv("no_proxy", "localhost")
    completed = sandbox.run([sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"])
    environment = json.loads(completed.stdout)
    assert not {"OPENAI_API_KEY", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "https_proxy"} & set(environment)
    assert environment["no_proxy"] == "localhost" and environment["PATH"] == os.environ["PATH"]
    assert "sk-secret" not in completed.stdout.decode()


def test_children_run_under_the_limits():
    script = ("import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0], "
              "resource.getrlimit(resource.RLIMIT_STACK)[0], resource.getrlimit(resource.RLIMIT_CORE)[0])")
    completed = sandbox.run([sys.executable, "-c", script], limits=sandbox.Limits(memory_bytes=2 << 30))
    memory, stack, core = (int(field) for field in completed.stdout.split())
    assert memory == 2 << 30 and core == 0
    ours = resource.getrlimit(resource.RLIMIT_STACK)[0]
    assert stack == sandbox.child_stack_bytes() and (ours == resource.RLIM_INFINITY or stack < ours)


def test_a_child_over_its_memory_cap_fails_alone():
    grab = "bytearray(1 << 31)"  # 2 GiB against a 1 GiB cap
    completed = sandbox.run([sys.executable, "-c", grab], limits=sandbox.Limits(memory_bytes=1 << 30))
    assert not isinstance(completed, sandbox.Crash)
    assert completed.returncode == 1 and b"MemoryError" in completed.stderr


def test_crashes_and_time_outs_are_named():
    crash = sandbox.run([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    assert crash == sandbox.Crash("killed by SIGSEGV")
    slow = sandbox.run([sys.executable, "-c", "import time; time.sleep(30)"], limits=sandbox.Limits(timeout_s=1))
    assert slow == sandbox.Crash("ran longer than 1 s", timed_out=True)

