"""toolchains.iree_targets: the targets' flags as Python reads them (generated from private/targets.bzl)."""

import pytest

from toolchains import iree_targets


def test_every_target_of_the_module_is_there_with_its_flags():
    assert sorted(iree_targets.targets()) == ["cuda", "llvm-cpu", "llvm-cpu-generic", "llvm-cpu-znver4", "rocm"]
    assert iree_targets.compile_flags("llvm-cpu")[-1] == "--iree-llvmcpu-target-cpu=host"
    assert "--iree-llvmcpu-target-cpu=generic" in iree_targets.compile_flags("llvm-cpu-generic")
    assert "--iree-hal-target-device=cuda" in iree_targets.compile_flags("cuda")
    assert iree_targets.targets()["rocm"]["tokenizer_target"] == "llvm-cpu-generic"


def test_the_flags_are_a_copy_the_caller_may_change():
    iree_targets.compile_flags("llvm-cpu").append("--changed")
    assert "--changed" not in iree_targets.compile_flags("llvm-cpu")


def test_an_unknown_target_names_the_known_ones():
    with pytest.raises(KeyError, match="unknown IREE target 'tpu'; known targets: cuda, llvm-cpu"):
        iree_targets.compile_flags("tpu")
