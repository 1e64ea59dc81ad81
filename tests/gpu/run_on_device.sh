#!/usr/bin/env bash
# Runs the GPU check on the device machine (tests/gpu/README.md), from the repository root:
#
#   bash tests/gpu/run_on_device.sh [CARRY_DIR [device_check.py options]]   # default .gpu; results in
#                                                  # $OUT (or /tmp/gpu_check)
#
# Installs the carried iree-base-runtime wheel (the device's python3 has numpy, ml_dtypes, tokenizers
# and jinja2, but no IREE) and runs device_check.py. Exits as device_check.py does.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

carry="${1:-.gpu}"
out="${OUT:-/tmp/gpu_check}"
mkdir -p "$out"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/iree_site "$carry"/iree_base_runtime-*.whl
export PYTHONPATH="/tmp/iree_site:$PWD" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
python3 tests/gpu/device_check.py --carry "$carry" --out "$out" "${@:2}" 2>&1 | tee "$out/log"
