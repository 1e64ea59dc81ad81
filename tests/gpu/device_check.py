"""The GPU check: the CUDA bundles of the carry folder against the same export on the CPU.

    python3 tests/gpu/device_check.py --carry .gpu --out "$OUT"

Runs on the device machine (tests/gpu/README.md); prepare.sh writes the carry folder here. For each
model, the VMFB compiled for `cuda` runs with the cuda driver and the one compiled from the same MLIR
for any x86-64 CPU runs with local-task, through artifacts.runtime, on the same weights. Checks:

- tokens: 64 greedy tokens from the same prompt ids. Where they first differ, the two devices' logits
  for that position (teacher-forced, below) are compared: the flip is a near tie that rounding may
  break either way only when the reference's top-two margin is at most twice the largest difference
  between the devices' logits there; a divergence at a larger margin is a mismatch.
- logits: prefill over the prompt plus the reference's tokens (teacher-forced, so the positions line
  up) on both devices; relative L2 error of the GPU's logits against the CPU's within the tolerance.

Times decode (tokens/s from the token stream, after a warm-up) and prefill of 37 and 512 tokens
(medians). Prints one table, writes results.json, exits 1 on a mismatch and 0 with a message where
no CUDA device exists.
"""

import argparse
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import iree.runtime
import numpy as np

from artifacts import bundle
from artifacts.runtime import LlmRuntime, load_bundle
from tests.gpu.random_parameters import write_random_parameters

LOG = logging.getLogger("device_check")

GENERATED_TOKENS = 64
PREFILL_LENGTHS = (37, 512)
PROMPT_SEED = 7
WEIGHT_SEED = 1234
# Bundle files both devices share; the VMFB differs: cuda.vmfb, and cpu.vmfb (x86-64) for the CPU drivers.
SHARED_FILES = (bundle.MODEL_CONFIG, bundle.TOKENIZER_JSON, bundle.GENERATION_JSON, bundle.MANIFEST_NAME)
VMFB_OF_DRIVER = {"cuda": "cuda.vmfb", "local-task": "cpu.vmfb", "local-sync": "cpu.vmfb"}
# Per model: relative L2 error allowed between the GPU's and the CPU's logits. tiny_qwen2 runs in
# float32 (summation order alone differs); SmolLM2's export runs float16 activations over 30 blocks.
TOLERANCES = {"tiny_qwen2": 1e-4, "smollm2": 2e-2}
REFERENCE_DRIVER = "local-task"


def cuda_available() -> str:
    """'' when a CUDA device can be created, else why not."""
    if "cuda" not in iree.runtime.query_available_drivers():
        return "this iree.runtime has no cuda driver"
    try:
        devices = iree.runtime.get_driver("cuda").query_available_devices()
    except Exception as error:  # the driver fails to load without libcuda
        return f"the cuda driver cannot start: {error}"
    return "" if devices else "the cuda driver finds no device"


def machine_description() -> dict:
    description = {"cpu": platform.processor() or "unknown", "cpu_count": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            description["cpu"] = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    if shutil.which("nvidia-smi"):
        query = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        description["gpu"] = query.stdout.strip()
    return description


def bundle_directory(model_dir: Path, driver: str, irpa: Path, work: Path) -> Path:
    """A bundle directory for `driver`: links to the shared files, its VMFB and the weights."""
    directory = work / model_dir.name / driver
    directory.mkdir(parents=True, exist_ok=True)
    links = {name: model_dir / name for name in SHARED_FILES}
    links[bundle.MODEL_VMFB] = model_dir / VMFB_OF_DRIVER[driver]
    links[bundle.MODEL_IRPA] = irpa
    for name, source in links.items():
        if not source.is_file():
            raise FileNotFoundError(f"{source}: missing from the carry folder. Fix: run tests/gpu/prepare.sh again.")
        (directory / name).unlink(missing_ok=True)
        (directory / name).symlink_to(source.resolve())
    return directory


def weights(model_dir: Path, work: Path) -> Path:
    """The model's IRPA: carried, or regenerated from parameters.json with WEIGHT_SEED."""
    if (model_dir / bundle.MODEL_IRPA).is_file():
        return model_dir / bundle.MODEL_IRPA
    spec = json.loads((model_dir / "parameters.json").read_text())
    path = work / f"{model_dir.name}_random.irpa"
    started = time.perf_counter()
    write_random_parameters(spec, path, WEIGHT_SEED)
    LOG.info("%s: wrote %d random parameters (%.0f MB) in %.1f s", model_dir.name, len(spec),
             path.stat().st_size / 1e6, time.perf_counter() - started)
    return path


def prompt(runtime: LlmRuntime, length: int) -> list[int]:
    vocabulary = runtime.tokenizer.get_vocab_size(with_added_tokens=True)
    return np.random.default_rng(PROMPT_SEED + length).integers(0, vocabulary, size=length).tolist()


def timed_generation(runtime: LlmRuntime, ids: list[int], tokens: int) -> tuple[list[int], float]:
    """Greedy tokens and decode tokens/s measured on the token stream: (N - 1) / (last - first)."""
    stamps: list[float] = []
    generated = runtime.generate(ids, tokens, stop_token_ids=[], on_token=lambda _: stamps.append(time.perf_counter()))
    return generated, (len(stamps) - 1) / (stamps[-1] - stamps[0])


def timed_prefill(runtime: LlmRuntime, ids: list[int], repeats: int) -> float:
    """Median seconds of prefill (generate with one new token: the prefill and its first token)."""
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        runtime.generate(ids, 1, stop_token_ids=[])
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def measure(runtime: LlmRuntime, repeats: int) -> dict:
    ids = prompt(runtime, PREFILL_LENGTHS[0])
    runtime.generate(ids, 4, stop_token_ids=[])  # warm-up: first-call costs (PTX JIT, allocations)
    runs = [timed_generation(runtime, ids, GENERATED_TOKENS) for _ in range(repeats)]
    result = {
        "tokens": runs[0][0],
        "decode_tokens_per_s": statistics.median(rate for _, rate in runs),
        "deterministic": all(tokens == runs[0][0] for tokens, _ in runs),
        "prefill_s": {},
    }
    for length in PREFILL_LENGTHS:
        if length + 1 > runtime.capacity:
            continue
        result["prefill_s"][length] = timed_prefill(runtime, prompt(runtime, length), repeats)
    return result


def compare(reference: dict, candidate: dict, reference_logits: np.ndarray, candidate_logits: np.ndarray,
            prompt_length: int, tolerance: float) -> dict:
    """Token agreement and logits error of `candidate` against `reference` (see the module doc)."""
    relative_l2 = float(np.linalg.norm(candidate_logits - reference_logits) / np.linalg.norm(reference_logits))
    max_abs = float(np.max(np.abs(candidate_logits - reference_logits)))
    agree = 0
    for expected, got in zip(reference["tokens"], candidate["tokens"]):
        if expected != got:
            break
        agree += 1
    mismatch = ""
    if agree < len(reference["tokens"]):
        # The logits that chose token `agree` sit at position prompt_length - 1 + agree.
        position = prompt_length - 1 + agree
        top_two = np.sort(reference_logits[position])[-2:]
        margin = float(top_two[1] - top_two[0])
        difference = float(np.max(np.abs(candidate_logits[position] - reference_logits[position])))
        if margin > 2 * difference:
            mismatch = (f"tokens diverge at {agree}: the reference's top-two margin {margin:.4g} exceeds twice "
                        f"the largest logit difference there ({difference:.4g})")
    if relative_l2 > tolerance:
        mismatch += f"{'; ' if mismatch else ''}logits relative L2 {relative_l2:.3g} > {tolerance:g}"
    return {"tokens_equal": agree, "relative_l2": relative_l2, "max_abs": max_abs, "mismatch": mismatch}


def check_model(model_dir: Path, driver: str, work: Path, repeats: dict) -> list[dict]:
    irpa = weights(model_dir, work)
    rows = []
    measured = {}
    logits = {}
    for name in (REFERENCE_DRIVER, driver):
        started = time.perf_counter()
        runtime = load_bundle(bundle_directory(model_dir, name, irpa, work), driver=name, verify=False)
        LOG.info("%s on %s: loaded in %.1f s", model_dir.name, name, time.perf_counter() - started)
        measured[name] = measure(runtime, repeats[name])
        LOG.info("%s on %s: %s", model_dir.name, name, {k: v for k, v in measured[name].items() if k != "tokens"})
        ids = prompt(runtime, PREFILL_LENGTHS[0])
        logits[name] = runtime.prefill_logits(ids + measured[REFERENCE_DRIVER]["tokens"])
        del runtime
    comparison = compare(measured[REFERENCE_DRIVER], measured[driver], logits[REFERENCE_DRIVER], logits[driver],
                         PREFILL_LENGTHS[0], TOLERANCES[model_dir.name])
    for name in (driver, REFERENCE_DRIVER):
        row = {"model": model_dir.name, "driver": name, **measured[name]}
        if name == driver:
            row.update(comparison)
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    lines = [
        "| model | driver | tokens equal to CPU | logits rel. L2 (max abs) | decode tok/s | prefill 37 | prefill 512 |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    reference = {row["model"]: row for row in rows if row["driver"] == REFERENCE_DRIVER}
    for row in rows:
        ref = reference[row["model"]]
        is_reference = row is ref

        def ratio(value, ref_value, faster_is_larger):
            if is_reference:
                return ""
            return f" ({value / ref_value:.2f}x)" if faster_is_larger else f" ({ref_value / value:.2f}x faster)"

        prefill = []
        for length in PREFILL_LENGTHS:
            value = row["prefill_s"].get(length)
            ref_value = ref["prefill_s"].get(length)
            prefill.append("n/a (context)" if value is None else f"{value * 1000:.1f} ms{ratio(value, ref_value, False)}")
        agreement = "reference" if is_reference else f"{row['tokens_equal']}/{GENERATED_TOKENS}"
        error = "" if is_reference else f"{row['relative_l2']:.2e} ({row['max_abs']:.3g})"
        lines.append(
            f"| {row['model']} | {row['driver']} | {agreement} | {error} | "
            f"{row['decode_tokens_per_s']:.1f}{ratio(row['decode_tokens_per_s'], ref['decode_tokens_per_s'], True)} | "
            f"{prefill[0]} | {prefill[1]} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--carry", type=Path, required=True, help="the folder prepare.sh wrote")
    parser.add_argument("--out", type=Path, required=True, help="where results.json goes")
    parser.add_argument("--work", type=Path, default=Path("/tmp/rules_iree_llm_gpu_check"))
    parser.add_argument("--driver", default="cuda",
                        help="the driver under test; local-sync runs the CPU module against local-task, a dry run "
                             "of this script on a machine without a GPU")
    parser.add_argument("--models", nargs="+", default=["tiny_qwen2", "smollm2"])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs on the driver under test")
    parser.add_argument("--reference-repeats", type=int, default=3, help="timed runs on the CPU reference")
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    if args.driver == "cuda":
        missing = cuda_available()
        if missing:
            print(f"no GPU to check: {missing}; nothing run")
            return 0
    machine = machine_description()
    LOG.info("machine: %s", machine)
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for model in args.models:
        rows += check_model(args.carry / "models" / model, args.driver, args.work,
                            {args.driver: args.repeats, REFERENCE_DRIVER: args.reference_repeats})
    (args.out / "results.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    print(f"machine: {machine}")
    print(table(rows))
    mismatches = [f"{row['model']}: {row['mismatch']}" for row in rows if row.get("mismatch")]
    for line in mismatches:
        print(f"MISMATCH {line}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
