"""Analysis tests of `llm_export`: export options a target cannot compile fail at analysis, clearly."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("//export:defs.bzl", "llm_export")

def _cpu_only_flag_on_gpu_fails_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, "export flag --block-quantized-decode writes llvm-cpu dispatches")
    asserts.expect_failure(env, "target 'rocm' compiles for rocm; drop it from export_flags")
    return analysistest.end(env)

_cpu_only_flag_on_gpu_fails_test = analysistest.make(
    _cpu_only_flag_on_gpu_fails_test_impl,
    expect_failure = True,
)

def llm_export_analysis_test_suite(name, checkpoint):
    """Declares the analysis tests of llm_export and a test_suite `name` holding them.

    Args:
      name: the test_suite's name.
      checkpoint: a GGUF file label for the exports under test (analysis does not read it).
    """
    llm_export(
        name = name + "_rocm_block_quantized",
        checkpoint = [checkpoint],
        target = "rocm",
        export_flags = ["--weight-dtype=float16", "--block-quantized-decode"],
        tags = ["manual"],
    )
    _cpu_only_flag_on_gpu_fails_test(
        name = name + "_cpu_only_flag_on_gpu_test",
        target_under_test = name + "_rocm_block_quantized",
    )
    native.test_suite(
        name = name,
        tests = [name + "_cpu_only_flag_on_gpu_test"],
    )
