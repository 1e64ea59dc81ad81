"""`dev_requirement`: a package of the dev pip hub (requirements_dev.in), for tests and benchmarks.

The dev hub is declared with `dev_dependency = True`, so it exists only when rules_iree_llm is the
root module. The label is a plain string, not a `load` of the hub's requirements.bzl: a module that
depends on rules_iree_llm loads these BUILD files too, and a `load` from a hub it cannot see would
fail the whole package, while a label of an unknown repository fails only a target that is built.
"""

DEV_HUB = "rules_iree_llm_pypi_dev"

def dev_requirement(name):
    """The label of the dev hub's py_library for PyPI package `name` (e.g. "llama-cpp-python")."""
    return "@{}//{}".format(DEV_HUB, name.lower().replace("-", "_").replace(".", "_"))
