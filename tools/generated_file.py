"""`generated_file`: keeps a checked-in copy of a build output up to date.

    bazel run //pkg:update_x            # copies the build output over the checked-in file
    bazel test //pkg:x_up_to_date_test  # --check: fails with the diff and the command above

Arguments: --generated PATH (the build output), --checked-in PATH (relative to the workspace),
--update-command (named in the failure message), --check. `sync` is the same for other tools.
"""

from __future__ import annotations

import argparse
import difflib
import os
import pathlib
import sys

from artifacts.atomic_write import write_text_atomic


def workspace_path(relative: pathlib.Path) -> pathlib.Path:
    """Where `bazel run` finds a source file (BUILD_WORKSPACE_DIRECTORY), else relative to here."""
    return pathlib.Path(os.environ.get("BUILD_WORKSPACE_DIRECTORY", ".")) / relative


def sync(path: pathlib.Path, wanted: str, *, check: bool) -> bool:
    """Whether `path` already holds `wanted`. If not: with `check`, prints the diff; otherwise writes
    `wanted` to `path` atomically."""
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if current == wanted:
        return True
    if check:
        sys.stdout.writelines(list(difflib.unified_diff(
            current.splitlines(keepends=True), wanted.splitlines(keepends=True),
            f"{path} (checked in)", f"{path} (generated)"))[:80])
    else:
        write_text_atomic(path, wanted)
        print(f"wrote {path}")
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", type=pathlib.Path, required=True)
    parser.add_argument("--checked-in", type=pathlib.Path, required=True)
    parser.add_argument("--update-command", required=True)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    wanted = args.generated.read_text(encoding="utf-8")
    path = args.checked_in if args.check else workspace_path(args.checked_in)
    if not sync(path, wanted, check=args.check) and args.check:
        print(f"\n{args.checked_in} is out of date; run: {args.update_command}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
