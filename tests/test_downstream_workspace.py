"""A downstream workspace uses rules_iree_llm through bzlmod: its builds work, its mistakes fail clearly."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from iree import runtime as iree_runtime

from tests.downstream_workspace import DownstreamWorkspace, downstream_workspace


@pytest.fixture(scope="module")
def workspace() -> DownstreamWorkspace:
    with downstream_workspace(os.environ["MODULE_FILE"], os.environ["PIP_RUNFILE"].split()[0]) as client:
        yield client


def test_generated_mlir_compiles_and_runs(workspace: DownstreamWorkspace) -> None:
    result = workspace.bazel("build", "//:generated_cpu")
    assert result.returncode == 0, result.output
    config = iree_runtime.Config("local-sync")
    context = iree_runtime.SystemContext(config=config)
    with open(workspace.output_path("generated_cpu.vmfb"), "rb") as vmfb:
        context.add_vm_module(iree_runtime.VmModule.copy_buffer(config.vm_instance, vmfb.read()))
    a = np.arange(8, dtype=np.float32)
    b = np.full(8, 3.0, dtype=np.float32)
    result = context.modules.module["combine"](a, b).to_host()
    # generated.mlir applies mulf, addf, subf with %b in turn: ((a * b) + b) - b.
    np.testing.assert_array_equal(result, ((a * b) + b) - b)


def run_combine(vmfb_path: str, a: np.ndarray, b: np.ndarray, function: str = "combine") -> np.ndarray:
    config = iree_runtime.Config("local-sync")
    context = iree_runtime.SystemContext(config=config)
    with open(vmfb_path, "rb") as vmfb:
        context.add_vm_module(iree_runtime.VmModule.copy_buffer(config.vm_instance, vmfb.read()))
    return context.modules.module[function](a, b).to_host()


def test_llm_transform_with_the_embedded_model(workspace: DownstreamWorkspace) -> None:
    """The downstream BUILD runs llm_transform with @rules_iree_llm//artifacts:smollm2_cpu (built in
    that workspace, in-process through the iree backend) on MLIR its own rule generates."""
    result = workspace.bazel(
        "build",
        "//:generated_cpu",
        "//:generated_simplified_cpu",
        "//:generated_simplified_report",
        timeout=2400,
    )
    assert result.returncode == 0, result.output
    report = json.loads(Path(workspace.output_path("generated_simplified.report.json")).read_text())
    assert report["backend"]["kind"] == "iree", report["backend"]
    assert [unit["name"] for unit in report["units"]] == ["combine"]
    unit = report["units"][0]
    # One attempt was made with the real model: it answered (no backend error) with tokens counted.
    assert len(unit["attempts"]) == 1, unit
    attempt = unit["attempts"][0]
    assert attempt["completion_tokens"] and attempt["completion_tokens"] > 0, attempt
    assert report["result"] in ("changed", "unchanged"), report
    # Accepted or not, what came out computes what the generated function computes.
    a = np.arange(8, dtype=np.float32) - 3.5
    b = np.full(8, 1.25, dtype=np.float32)
    transformed = run_combine(workspace.output_path("generated_simplified_cpu.vmfb"), a, b)
    original = run_combine(workspace.output_path("generated_cpu.vmfb"), a, b)
    np.testing.assert_allclose(transformed, original, rtol=1e-4, atol=1e-5)
    if report["result"] == "unchanged":
        generated = Path(workspace.output_path("generated.mlir")).read_bytes()
        assert Path(workspace.output_path("generated_simplified.mlir")).read_bytes() == generated


def test_second_build_does_no_work(workspace: DownstreamWorkspace) -> None:
    assert workspace.bazel("build", "//:generated_cpu").returncode == 0
    again = workspace.bazel("build", "//:generated_cpu")
    assert again.returncode == 0, again.output
    assert "0 processes" in again.output or "1 process: 1 internal" in again.output, again.output


def test_bad_mlir_fails_with_compiler_diagnostic_naming_the_file(workspace: DownstreamWorkspace) -> None:
    result = workspace.bazel("build", "//failures:bad_mlir")
    assert result.returncode != 0
    assert "failures/bad.mlir:2:23: error: use of undeclared SSA value name" in result.output, result.output


def test_unknown_target_fails_at_loading_listing_known_targets(workspace: DownstreamWorkspace) -> None:
    """`target` is an enumerated attribute (values = the keys of IREE_TARGETS): Bazel names the
    BUILD file, the attribute and every known target."""
    result = workspace.bazel("build", "//failures/unknown_target")
    assert result.returncode != 0
    assert "failures/unknown_target/BUILD.bazel:5:10: //failures/unknown_target:unknown_target" in result.output, \
        result.output
    assert ("invalid value in 'target' attribute: has to be one of 'cuda', 'llvm-cpu', 'llvm-cpu-generic', "
            "'llvm-cpu-znver4' or 'rocm' instead of 'tpu'") in result.output, result.output


def test_llm_transform_search_mode_shrinks_generated_mlir(workspace: DownstreamWorkspace) -> None:
    """mode = "search" needs no model: the output is smaller and computes what the input computes."""
    result = workspace.bazel(
        "build", "//:repeated_cpu", "//:repeated_searched_cpu", "//:repeated_searched_report",
        "//:repeated_searched_summary", timeout=1200)
    assert result.returncode == 0, result.output
    report = json.loads(Path(workspace.output_path("repeated_searched.report.json")).read_text())
    assert report["mode"] == "search" and report["backend"]["kind"] == "none", report
    assert report["result"] == "changed" and report["ops_after"] < report["ops_before"], report
    module_unit = report["units"][-1]
    assert module_unit["name"] == "module" and module_unit["winner"] == "search", module_unit
    # The downstream module's own py_binary (its rules_python) read the same report.
    summary = Path(workspace.output_path("repeated_searched_summary.txt")).read_text().splitlines()
    assert summary[0] == f"mode search, result changed, {report['ops_before']} -> {report['ops_after']} ops", summary
    assert summary[1:] == [f"{unit['name']}: {unit['status']} ({unit['winner'] or 'no winner'})"
                           for unit in report["units"]], summary
    assert "module: accepted (search)" in summary, summary
    searched = Path(workspace.output_path("repeated_searched.mlir")).read_text()
    assert "@helper" not in searched and "@unused" not in searched and searched.count("arith.mulf") == 1
    a = np.arange(8, dtype=np.float32) - 3.5
    b = np.full(8, 1.25, dtype=np.float32)
    np.testing.assert_array_equal(
        run_combine(workspace.output_path("repeated_searched_cpu.vmfb"), a, b, "twice"),
        run_combine(workspace.output_path("repeated_cpu.vmfb"), a, b, "twice"),
    )
