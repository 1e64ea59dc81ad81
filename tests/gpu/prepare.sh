#!/usr/bin/env bash
# Prepares the carry folder of the GPU check (tests/gpu/README.md) on a machine without a GPU:
#
#   bash tests/gpu/prepare.sh [CARRY_DIR]     # default .gpu (git-ignored)
#
# Builds the CUDA bundles and the x86-64 reference modules of the same exports, copies what the
# device needs (no weights too large to carry: SmolLM2's are regenerated there from parameters.json),
# and downloads the iree-base-runtime wheel for the device's CPython 3.12, the version of the lock.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

carry="${1:-.gpu}"
bazel build //tests/gpu:device_modules
bin="$(bazel info bazel-bin 2>/dev/null)"

rm -rf "$carry/models"
copy_model() {  # NAME BUNDLE_DIR CPU_VMFB CARRY_WEIGHTS
  local out="$carry/models/$1"
  mkdir -p "$out"
  for file in model_config.json tokenizer.json generation.json manifest.json; do
    cp "$2/$file" "$out/$file"
  done
  cp "$2/model.vmfb" "$out/cuda.vmfb"
  cp "$3" "$out/cpu.vmfb"
  if [ "$4" = yes ]; then
    cp "$2/model.irpa" "$out/model.irpa"
  else
    python3 tests/gpu/parameter_spec.py "$2_export/model.mlir" >"$out/parameters.json"
  fi
  chmod -R u+w "$out"
}
copy_model tiny_qwen2 "$bin/tests/tiny_models/tiny_qwen2_cuda" "$bin/tests/gpu/tiny_qwen2_llvm_cpu_generic.vmfb" yes
copy_model smollm2 "$bin/tests/gpu/smollm2_cuda" "$bin/tests/gpu/smollm2_llvm_cpu_generic.vmfb" no

version="$(sed -n 's/^iree-base-runtime==\([^ ]*\).*/\1/p' requirements_lock.txt)"
rm -f "$carry"/iree_base_runtime-*.whl
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d "$carry" "iree-base-runtime==$version"
du -sh "$carry"
echo "prepared $carry; on the device: bash tests/gpu/run_on_device.sh $carry"
