"""Tests of passlib.training_data.random_torch: random torch modules exported at two levels.

Exports are slow (about a second per configuration on 2 cores, the first one several), so one small
generation is shared by the module's tests.
"""

from __future__ import annotations

import collections
import hashlib
import random
import re
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("iree.turbine")

from passlib import ir, schedule  # noqa: E402
from passlib.training_data import random_torch  # noqa: E402

SEED = 11
COUNT = 6


@pytest.fixture(scope="module")
def candidates():
    return random_torch.generate(SEED, COUNT)


def _digest(found) -> str:
    return hashlib.sha256(repr([(c.name, c.kind, c.module_text) for c in found]).encode()).hexdigest()


def test_the_same_seed_gives_the_same_texts(candidates):
    again = random_torch.generate(SEED, 3)
    assert again == [c for c in candidates if int(c.name.split("-")[1]) < 3]
    assert random_torch.generate(SEED + 1, 1) != [c for c in candidates if c.name.startswith("torch-0000")]


def test_the_same_seed_gives_the_same_texts_in_another_process(candidates):
    script = (
        "import hashlib, sys\n"
        "from passlib.training_data import random_torch\n"
        f"found = random_torch.generate({SEED}, 2)\n"
        "print(hashlib.sha256(repr([(c.name, c.kind, c.module_text) for c in found]).encode()).hexdigest())\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                               check=True)
    first_two = [c for c in candidates if int(c.name.split("-")[1]) < 2]
    assert completed.stdout.strip().splitlines()[-1] == _digest(first_two)


def test_both_kinds_appear_with_stable_names(candidates):
    kinds = collections.Counter(c.kind for c in candidates)
    assert kinds[random_torch.TORCH_KIND] >= COUNT - 1 and kinds[random_torch.LINALG_KIND] >= COUNT // 2, kinds
    names = [c.name for c in candidates]
    assert len(set(names)) == len(names)
    for c in candidates:
        expected = r"torch-\d{4}" + ("-linalg" if c.kind == random_torch.LINALG_KIND else "")
        assert re.fullmatch(expected, c.name), c.name


def test_every_candidate_parses_verifies_and_has_a_builtin_static_boundary(candidates):
    for c in candidates:
        module = ir.parse_module(c.module_text, ir.new_context(), c.name)
        assert ir.verify(module) == []
        functions = [f for f in ir.functions(module) if not ir.is_declaration(f)]
        assert functions, c.name
        for function in functions:
            assert ir.count_ops(function) <= random_torch.MAX_FUNCTION_OPS, c.name
            signature = ir.signature(function)
            for type_text in signature.inputs + signature.results:
                assert re.fullmatch(r"tensor<(\d+x)+f32>|tensor<f32>", type_text), (c.name, type_text)


def test_torch_level_has_a_torch_c_boundary_and_linalg_level_has_no_torch_ops(candidates):
    for c in candidates:
        module = ir.parse_module(c.module_text, ir.new_context(), c.name)
        histogram = ir.op_histogram(module)
        torch_ops = [name for name in histogram if name.startswith(("torch.", "torch_c."))]
        if c.kind == random_torch.TORCH_KIND:
            assert histogram.get("torch_c.from_builtin_tensor", 0) >= 1, c.name
            assert histogram.get("torch_c.to_builtin_tensor", 0) >= 1, c.name
            assert any(name.startswith("torch.aten.") for name in histogram), c.name
        else:
            assert torch_ops == [], (c.name, torch_ops)
            assert "!torch." not in c.module_text, c.name
            assert any(name.startswith("linalg.") for name in histogram), c.name


def test_canonicalize_and_cse_remove_operations_from_most_candidates(candidates):
    allowed = schedule.allowed_passes()
    reduced = []
    for c in candidates:
        module = ir.parse_module(c.module_text, ir.new_context(), c.name)
        result = schedule.apply_pipeline(module, ["canonicalize", "cse"], allowed)
        assert result.module is not None, (c.name, result.diagnostics)
        reduced.append(result.ops_after < ir.count_ops(module))
    assert sum(reduced) >= 0.8 * len(reduced), reduced


def test_configurations_cover_the_vocabulary_and_always_hold_redundancy():
    """No export: only the drawn configurations (cheap, so many of them)."""
    rng = random.Random(0)
    configs = [random_torch.random_config(rng.getrandbits(63)) for _ in range(300)]
    ops = collections.Counter(step.op for config in configs for step in config.steps)
    assert set(random_torch.LAYERS) | set(random_torch.REDUNDANCIES) <= set(ops), ops
    assert {config.inputs for config in configs} == {"one", "add", "mul"}
    assert {config.outputs for config in configs} == {"one", "sum", "two", "duplicate"}
    for config in configs:
        assert random_torch.BATCH_RANGE[0] <= config.batch <= random_torch.BATCH_RANGE[1]
        assert any(step.op in random_torch.REDUNDANCIES for step in config.steps), config
        width = config.features
        for step in config.steps:
            assert step.features_in == width, config  # the steps chain
            assert random_torch.FEATURE_RANGE[0] <= step.features_out <= random_torch.FEATURE_RANGE[1]
            width = step.features_out
    assert random_torch.random_config(5) == random_torch.random_config(5)
