"""Analysis tests of `iree_vmfb`: what a BUILD file gets wrong must fail at analysis, clearly."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//private:targets.bzl", "IREE_TARGETS")  # buildifier: disable=bzl-visibility
load("//toolchains:defs.bzl", "IreeVmfbInfo", "iree_vmfb")

def _compile_action_test_impl(ctx):
    env = analysistest.begin(ctx)
    target_under_test = analysistest.target_under_test(env)
    info = target_under_test[IreeVmfbInfo]
    asserts.equals(env, "rocm", info.target)
    asserts.equals(env, "rocm-hsaco-fb", info.executable_format)
    actions = [a for a in analysistest.target_actions(env) if a.mnemonic == "IreeCompile"]
    asserts.equals(env, 1, len(actions))
    argv = actions[0].argv
    for flag in IREE_TARGETS["rocm"].compile_flags:
        asserts.true(env, flag in argv, "missing target flag " + flag)
    asserts.true(env, "--iree-opt-level=O3" in argv, "user flags are passed after the target's")
    return analysistest.end(env)

_compile_action_test = analysistest.make(_compile_action_test_impl)

def _compile_exec_group_test_impl(ctx):
    # A target routes its compiles with `compile.*` properties (docs/remote.md); Bazel fails the
    # analysis ("Tried to set properties for non-existent exec groups") unless the rule declares
    # the group. Starlark cannot read an action's platform properties; `bazel aquery` shows
    # `ExecutionInfo: {..., cpu: znver4}` on this IreeCompile action.
    env = analysistest.begin(ctx)
    actions = [a for a in analysistest.target_actions(env) if a.mnemonic == "IreeCompile"]
    asserts.equals(env, 1, len(actions))
    return analysistest.end(env)

_compile_exec_group_test = analysistest.make(_compile_exec_group_test_impl)

def iree_vmfb_analysis_test_suite(name, src):
    """Declares the analysis tests of iree_vmfb and a test_suite `name` holding them.

    Args:
      name: the test_suite's name.
      src: an MLIR file the targets under test use.
    """
    iree_vmfb(
        name = name + "_rocm",
        src = src,
        target = "rocm",
        flags = ["--iree-opt-level=O3"],
        tags = ["manual"],
    )
    _compile_action_test(
        name = name + "_compile_action_test",
        target_under_test = name + "_rocm",
    )
    iree_vmfb(
        name = name + "_routed",
        src = src,
        target = "llvm-cpu",
        exec_properties = {"compile.cpu": "znver4"},
        tags = ["manual"],
    )
    _compile_exec_group_test(
        name = name + "_compile_exec_group_test",
        target_under_test = name + "_routed",
    )

    native.test_suite(
        name = name,
        tests = [
            name + "_compile_action_test",
            name + "_compile_exec_group_test",
        ],
    )
