"""Bundles of tiny Llama and Qwen2 checkpoints, built by llm_artifacts, against HF transformers.

The CPU bundles run in the runtime and must match transformers' logits (activations in float32, so
the tolerance is that of float32 arithmetic over two layers) and its greedy tokens exactly. The rocm
and cuda bundles cannot run here; they must hold executables of their format.
"""

import json
import re
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
        ("tiny_qwen2_generic", "llvm-cpu-generic", "embedded-elf-x86_64"),
        ("tiny_qwen2_rocm", "rocm", "rocm-hsaco-fb"),
        ("tiny_qwen2_cuda", "cuda", "cuda-nvptx-fb"),
    ],
)
def test_bundle_holds_model_for_its_target(name: str, target: str, executable_format: str) -> None:
    directory = PACKAGE / name
    manifest = bundle.verify_bundle(directory)
    recorded = json.loads((directory / "manifest.json").read_text())
    assert recorded["target"]["name"] == target
    # The toolchain's compiler, by its own --version: a version and the commit it was built from.
    assert re.fullmatch(r"\d+\.\d+\.\S+ @ [0-9a-f]{40}", recorded["toolchain"]["iree-compile"]), recorded["toolchain"]
    with zipfile.ZipFile(directory / "model.vmfb") as archive:
        executables = [n for n in archive.namelist() if n != "module.fb"]
    assert executables, "the model has no executables"
    assert all(executable_format.replace("-", "_") in n for n in executables), executables
    # The tokenizer runs on the host next to the model, whatever the model's target.
    with zipfile.ZipFile(directory / "tokenizer.vmfb") as archive:
        assert any("embedded_elf_x86_64" in n for n in archive.namelist())
    assert manifest.bundle_name == name


# iree-compile records each executable's CPU target in the module: `cpu = "..."` and
# `cpu_features = "+avx,..."` inside its #hal.executable.target attribute.
_CPU_TARGET = re.compile(rb'cpu = "([^"]*)", cpu_features = "([^"]*)"')


def _cpu_targets(vmfb: Path) -> set[tuple[str, tuple[str, ...]]]:
    found = {(cpu.decode(), tuple(f for f in features.decode().split(",") if f.startswith("+")))
             for cpu, features in _CPU_TARGET.findall(vmfb.read_bytes())}
    assert found, f"{vmfb}: no CPU target recorded"
    return found


@pytest.mark.parametrize("name", ["tiny_qwen2_generic", "tiny_qwen2_rocm", "tiny_qwen2_cuda"])
def test_portable_bundles_hold_no_host_specific_cpu_code(name: str) -> None:
    """A llvm-cpu-generic bundle (both modules) and a GPU bundle's tokenizer run on any x86-64 host:
    generic CPU, no CPU features enabled."""
    directory = PACKAGE / name
    modules = ["model.vmfb", "tokenizer.vmfb"] if name.endswith("generic") else ["tokenizer.vmfb"]
    for module in modules:
        assert _cpu_targets(directory / module) == {("generic", ())}, (name, module)


def test_host_bundles_are_compiled_for_the_host_cpu() -> None:
    """The contrast that shows the check above can fail: llvm-cpu compiles for this machine's CPU."""
    for module in ["model.vmfb", "tokenizer.vmfb"]:
        targets = _cpu_targets(PACKAGE / "tiny_qwen2_cpu" / module)
        assert all(cpu != "generic" and features for cpu, features in targets), (module, targets)



def test_prefix_cache_reuses_pages_and_gives_the_tokens_of_a_full_prefill() -> None:
    """tiny_llama_cpu has prefill_from_bs1: a prompt that starts like an earlier one prefills from
    the earlier one's cached pages, and generates what transformers and an uncached runtime do;
    when the pool runs short, cached pages nobody holds are evicted and reused."""
    directory = PACKAGE / "tiny_llama_cpu"
    runtime = load_bundle(directory)
    uncached = load_bundle(directory, verify=False, prefix_cache=False)
    reference = testing.load_reference_model(PACKAGE / "tiny_llama")
    assert runtime.prefix_cache_enabled and not uncached.prefix_cache_enabled
    page = runtime.model_config.block_seq_stride
    rng = np.random.default_rng(3)
    first = [int(t) for t in rng.integers(0, 300, size=3 * page + 5)]
    second = first[: 3 * page] + [int(t) for t in rng.integers(0, 300, size=page + 8)]

    for prompt, reused in ((first, 0), (second, 3)):
        before = runtime.reused_prefix_pages
        generated = runtime.generate(prompt, max_new_tokens=GREEDY_TOKENS, stop_token_ids=[])
        assert runtime.reused_prefix_pages - before == reused
        assert generated == uncached.generate(prompt, max_new_tokens=GREEDY_TOKENS, stop_token_ids=[])
        assert generated == testing.reference_greedy(reference, prompt, GREEDY_TOKENS)
    # first's 3 full pages, and second's fourth.
    assert runtime.cached_prefix_pages == 4
    assert runtime.free_cache_pages == runtime.cache_pages

    # A prompt that needs every page of the pool: the cached pages are evicted for it.
    longest = runtime.capacity - GREEDY_TOKENS
    third = [int(t) for t in rng.integers(0, 300, size=longest)]
    generated = runtime.generate(third, max_new_tokens=GREEDY_TOKENS, stop_token_ids=[])
    assert generated == testing.reference_greedy(reference, third, GREEDY_TOKENS)
    assert runtime.cached_prefix_pages == longest // page
    assert runtime.free_cache_pages == runtime.cache_pages
