#!/usr/bin/env bash
# Regenerates requirements_lock.txt and requirements_dev_lock.txt (hashed, resolved) from
# requirements.in and requirements_dev.in with pip-tools.
#
# torch is pinned to its CPU build (2.13.0+cpu): pip must be able to find that wheel, through the
# machine's pip configuration (a find-links folder) or with
#   PIP_EXTRA_INDEX_URL=https://download.pytorch.org/whl/cpu tools/update_lock.sh
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${PIP_TOOLS_VENV:-${TMPDIR:-/tmp}/rules_iree_llm_pip_tools}"
if [ ! -x "$venv/bin/pip-compile" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "pip-tools==7.6.2"
fi
cd "$repo_root"
for name in requirements requirements_dev; do
  # requirements_dev.in is constrained to requirements_lock.txt's versions (-c), so it comes second.
  "$venv/bin/pip-compile" --quiet --generate-hashes --allow-unsafe --strip-extras \
    --no-emit-index-url --no-emit-find-links \
    --output-file "${name}_lock.txt" "${name}.in"
  echo "update_lock: wrote ${name}_lock.txt"
done
