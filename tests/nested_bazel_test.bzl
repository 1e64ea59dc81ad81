"""`nested_bazel_test`: a pytest suite that runs a nested Bazel on a workspace using this module."""

load("@rules_iree_llm_pypi//:requirements.bzl", "requirement")
load("//tools:pytest.bzl", "py_pytest_test")

def nested_bazel_test(name, srcs, deps = [], **kwargs):
    """A py_pytest_test that drives a nested Bazel through tests/downstream_workspace.py.

    The test runs outside the sandbox (it starts its own Bazel server) and is never cached: the
    workspaces it builds are not inputs Bazel can see (tests/downstream is hidden by .bazelignore).
    MODULE_FILE locates this module's source tree; PIP_RUNFILE locates the pip repositories the outer
    build fetched, which the nested Bazel reuses instead of the network.

    Args:
      name: the test's name.
      srcs: the pytest files.
      deps: further libraries the tests import.
      **kwargs: passed on to py_pytest_test (size, ...).
    """
    py_pytest_test(
        name = name,
        srcs = srcs,
        data = [
            "//:MODULE.bazel",
            requirement("iree-base-runtime"),
        ],
        env = {
            "MODULE_FILE": "$(rootpath //:MODULE.bazel)",
            "PIP_RUNFILE": "$(rootpaths {})".format(requirement("iree-base-runtime")),
        },
        tags = [
            "external",
            "local",
            "no-remote",
        ],
        deps = ["//tests:downstream_workspace"] + deps,
        **kwargs
    )
