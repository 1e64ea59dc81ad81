"""The IREE targets' flags for Python: read from iree_targets.json, which Bazel generates from their
one home, private/targets.bzl (`//toolchains:iree_targets_up_to_date_test` keeps the copy current).

    from toolchains import iree_targets
    iree_targets.compile_flags("llvm-cpu")   # ["--iree-hal-target-device=local", ...]
"""

from __future__ import annotations

import functools
import json
import pathlib

TARGETS_JSON = pathlib.Path(__file__).with_name("iree_targets.json")


@functools.cache
def targets() -> dict[str, dict]:
    """Every target: {name: {"backend", "compile_flags", "device", "executable_format", ...}}."""
    return json.loads(TARGETS_JSON.read_text(encoding="utf-8"))


def compile_flags(name: str) -> list[str]:
    """The iree-compile flags of the target `name` (a KeyError names the known ones)."""
    known = targets()
    if name not in known:
        raise KeyError(f"unknown IREE target {name!r}; known targets: {', '.join(sorted(known))}")
    return list(known[name]["compile_flags"])
