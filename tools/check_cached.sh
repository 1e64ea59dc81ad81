#!/usr/bin/env bash
# check_cached.sh TARGET...: builds the targets and fails if that executed any action, naming the
# actions that ran (from Bazel's execution log). Run after a sequence that should leave them cached.
set -euo pipefail
log="$(mktemp "${TMPDIR:-/tmp}/check_cached.XXXXXX")"
trap 'rm -f "$log"' EXIT
bazel build --execution_log_json_file="$log" "$@"
spawns="$(grep -c '"commandArgs"' "$log" || true)"
if [ "$spawns" -ne 0 ]; then
  echo "check_cached: rebuilding $* executed $spawns action(s) that should have been cached:" >&2
  # Each spawn's mnemonic and target, counted.
  grep -o '"\(mnemonic\|targetLabel\)": *"[^"]*"' "$log" | paste - - | sort | uniq -c >&2 || true
  exit 1
fi
echo "check_cached: $* executed nothing (all cached)"
