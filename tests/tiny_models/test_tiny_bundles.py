"""Bundles of tiny Llama and Qwen2 checkpoints, built by llm_artifacts, against HF transformers.

The CPU bundles run in the runtime and must match transformers' logits (activations in float32, so
the tolerance is that of float32 arithmetic over two layers) and its greedy tokens exactly. The rocm
and cuda bundles cannot run here; they must hold executables of their format.
"""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from artifacts import bundle
from artifacts.runtime import load_bundle
from export import testing

PACKAGE = Path("tests/tiny_models")
PROMPT = [5, 17, 42, 99, 3, 250, 7, 64, 128, 31, 300, 12]
GREEDY_TOKENS = 8
# float32 activations: transformers and IREE differ only by summation order (measured ~2e-6).
LOGITS_TOLERANCE = 1e-4


@pytest.mark.parametrize("architecture", ["llama", "qwen2"])
def test_cpu_bundle_matches_transformers(architecture: str) -> None:
    runtime = load_bundle(PACKAGE / f"tiny_{architecture}_cpu")
    reference = testing.load_reference_model(PACKAGE / f"tiny_{architecture}")

    logits = np.asarray(runtime.prefill_logits(PROMPT), dtype=np.float32)
    expected = testing.reference_logits(reference, PROMPT)
    assert logits.shape == expected.shape
    np.testing.assert_allclose(logits, expected, rtol=0, atol=LOGITS_TOLERANCE)

    generated = runtime.generate(PROMPT, max_new_tokens=GREEDY_TOKENS, stop_token_ids=[])
    assert generated == testing.reference_greedy(reference, PROMPT, GREEDY_TOKENS)


@pytest.mark.parametrize(
    "name, target, executable_format",
    [
        ("tiny_qwen2_cpu", "llvm-cpu", "embedded-elf-x86_64"),
        ("tiny_qwen2_rocm", "rocm", "rocm-hsaco-fb"),
        ("tiny_qwen2_cuda", "cuda", "cuda-nvptx-fb"),
    ],
)
def test_bundle_holds_model_for_its_target(name: str, target: str, executable_format: str) -> None:
    directory = PACKAGE / name
    manifest = bundle.verify_bundle(directory)
    recorded = json.loads((directory / "manifest.json").read_text())
    assert recorded["target"]["name"] == target
    with zipfile.ZipFile(directory / "model.vmfb") as archive:
        executables = [n for n in archive.namelist() if n != "module.fb"]
    assert executables, "the model has no executables"
    assert all(executable_format.replace("-", "_") in n for n in executables), executables
    # The tokenizer runs on the host next to the model, whatever the model's target.
    with zipfile.ZipFile(directory / "tokenizer.vmfb") as archive:
        assert any("embedded_elf_x86_64" in n for n in archive.namelist())
    assert manifest.bundle_name == name
