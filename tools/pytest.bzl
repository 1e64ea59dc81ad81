"""`py_pytest_test`: a py_test that runs a pytest suite, so `bazel test //...` is the one test command."""

load("@rules_python//python:defs.bzl", "py_test")
load("//tools:dev_requirements.bzl", "dev_requirement")

def py_pytest_test(name, srcs, deps = [], args = [], data = [], **kwargs):
    """Runs the pytest files `srcs` as one Bazel test.

    Args:
      name: the test's name.
      srcs: the pytest files (test_*.py) and helpers they import.
      deps: libraries the tests import.
      args: further pytest arguments.
      data: files the tests read at run time.
      **kwargs: passed on to py_test (size, timeout, tags, env, ...).
    """
    test_files = [src for src in srcs if src.split("/")[-1].startswith("test_")]
    py_test(
        name = name,
        srcs = srcs + ["//tools:pytest_main.py"],
        main = "//tools:pytest_main.py",
        deps = deps + [dev_requirement("pytest")],
        args = args + ["$(rootpath {})".format(f) for f in test_files],
        data = data,
        **kwargs
    )
