#!/usr/bin/env bash
# Formats and lints every BUILD, MODULE and .bzl file of the module with buildifier from npm (the
# version pinned here). CI runs the check; `bash tools/buildifier.sh fix` rewrites the files.
#   bash tools/buildifier.sh         # check: exits non-zero and names each file and warning
#   bash tools/buildifier.sh fix     # reformat and apply the automatic lint fixes
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
readonly BUILDIFIER="@bazel/buildifier@8.2.1"
case "${1:-check}" in
  check) mode=(--mode=check --lint=warn) ;;
  fix) mode=(--mode=fix --lint=fix) ;;
  *) echo "usage: bash tools/buildifier.sh [check|fix]" >&2; exit 2 ;;
esac
# bazel-* output symlinks and nested workspaces' outputs hold no source of ours.
mapfile -t files < <(git ls-files -- '*.bzl' '*BUILD.bazel' '*BUILD' '*MODULE.bazel' '*WORKSPACE' '*.bazel')
exec npx --yes "$BUILDIFIER" "${mode[@]}" "${files[@]}"
