"""Checks the modules `iree_vmfb` compiled from add_scale.mlir for every target.

The llvm-cpu modules are executed with the IREE runtime; the rocm and cuda modules cannot run without
their GPUs, so the test checks that they hold executables of the right format.
"""

import os
import zipfile

import numpy as np
import pytest
from iree import runtime as iree_runtime


def run_add_scale(vmfb_path: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    config = iree_runtime.Config("local-sync")
    context = iree_runtime.SystemContext(config=config)
    with open(vmfb_path, "rb") as vmfb:
        module = iree_runtime.VmModule.copy_buffer(config.vm_instance, vmfb.read())
    context.add_vm_module(module)
    return context.modules.module["add_scale"](a, b).to_host()


@pytest.mark.parametrize("variable", ["VMFB_LLVM_CPU", "VMFB_LLVM_CPU_GENERIC"])
def test_llvm_cpu_module_computes_add_scale(variable: str) -> None:
    a = np.array([1.0, -2.0, 3.5, 0.0], dtype=np.float32)
    b = np.array([4.0, 0.5, -1.0, 7.0], dtype=np.float32)
    result = run_add_scale(os.environ[variable], a, b)
    np.testing.assert_allclose(result, a * b + 2 * a, rtol=0, atol=0)


@pytest.mark.parametrize(
    "variable, executable_format",
    [
        ("VMFB_LLVM_CPU", b"embedded-elf-x86_64"),
        ("VMFB_ROCM", b"rocm-hsaco-fb"),
        ("VMFB_CUDA", b"cuda-nvptx-fb"),
    ],
)
def test_module_holds_executable_of_target_format(variable: str, executable_format: bytes) -> None:
    # A VMFB is a zip archive whose module.fb is the size-prefixed VM flatbuffer (file identifier
    # "IREE" after the size and the root offset);
    # the executables are stored in it with their format names.
    with zipfile.ZipFile(os.environ[variable]) as archive:
        flatbuffer = archive.read("module.fb")
    assert flatbuffer[8:12] == b"IREE", "not an IREE VM flatbuffer"
    with open(os.environ[variable], "rb") as vmfb:
        contents = vmfb.read()
    assert executable_format in contents
    other_formats = {b"embedded-elf-x86_64", b"rocm-hsaco-fb", b"cuda-nvptx-fb"} - {executable_format}
    for other in other_formats:
        assert other not in contents
