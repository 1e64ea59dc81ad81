"""export.q4_1_matvec: the Q4_1 planes, the hand-written decode dispatch compiled by IREE, and a
model exported with --q4-1-decode-kernel against the same model decoding with dense weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from iree.turbine.aot import export
from sharktank.types.layouts import BlockScaledI4Layout

from export import testing
from export.errors import ExportOptionError
from export.export_llm import ExportOptions, ExportOutputs, export_checkpoint
from export.q4_1_matvec import dequantize_planes, q4_1_matvec, q4_1_planes

PROMPT = [int(token) for token in np.random.default_rng(12).integers(0, 320, size=20)]


def _random_layout(rows: int, columns: int, seed: int) -> BlockScaledI4Layout:
    generator = torch.Generator().manual_seed(seed)
    blocks = columns // 32
    return BlockScaledI4Layout(
        [rows, columns],
        d=(torch.rand(rows, blocks, 1, generator=generator) * 0.02).half(),
        qs=torch.randint(0, 256, (rows, blocks, 16), generator=generator, dtype=torch.uint8),
        m=(-torch.rand(rows, blocks, 1, generator=generator) * 0.1).half(),
        signed=False,
    )


def test_planes_stand_for_the_same_weight():
    layout = _random_layout(24, 96, seed=1)
    codes, scales, offsets = q4_1_planes(layout)
    assert codes.shape == (24, 3, 16) and codes.dtype == torch.uint8
    assert scales.shape == offsets.shape == (24, 3)
    expected = layout.dequant(dtype=torch.float32).reshape(24, 96)
    torch.testing.assert_close(dequantize_planes(codes, scales, offsets), expected, rtol=0, atol=0)


class _AroundTheKernel(torch.nn.Module):
    """Elementwise work before and after, so that IREE puts x and y in one transient buffer at
    nonzero offsets (the case a kernel ignoring binding offsets gets wrong)."""

    def forward(self, x, codes, scales, offsets):
        return q4_1_matvec(torch.nn.functional.silu(x * 2), codes, scales, offsets) * 3


@pytest.mark.parametrize("rows, columns", [(40, 64), (96, 128)])
def test_compiled_kernel_equals_float32_product(tmp_path: Path, rows: int, columns: int):
    import iree.runtime as runtime

    codes, scales, offsets = q4_1_planes(_random_layout(rows, columns, seed=rows))
    x = torch.randn(1, columns, generator=torch.Generator().manual_seed(3)).half()
    exported = export(_AroundTheKernel(), args=(x, codes, scales, offsets))
    exported.save_mlir(tmp_path / "kernel.mlir")
    assert "flow.dispatch @q4_1_matvec" in (tmp_path / "kernel.mlir").read_text()
    testing.compile_for_host(tmp_path / "kernel.mlir", tmp_path / "kernel.vmfb")
    config = runtime.Config("local-task")
    context = runtime.SystemContext(config=config)
    context.add_vm_module(runtime.VmModule.mmap(config.vm_instance, str(tmp_path / "kernel.vmfb")))
    result = context.modules.module["main"](x.numpy(), codes.numpy(), scales.numpy(), offsets.numpy())
    y = np.asarray(result.to_host()).astype(np.float32)

    activated = torch.nn.functional.silu(x * 2).float()
    expected = (3 * (activated @ dequantize_planes(codes, scales, offsets).T)).numpy()
    assert y.shape == (1, rows)
    # float32 sums; IREE's float16 silu may differ from torch's by a step in some inputs, and the
    # result is rounded to float16 twice (the kernel's, then the product by 3). A wrong nibble
    # order, scale or offset moves the results by about their own magnitude.
    np.testing.assert_allclose(y, expected, rtol=0, atol=5e-3 * np.abs(expected).max())


@pytest.fixture(scope="module")
def q4_1_gguf(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("q4_1")
    checkpoint = testing.write_tiny_hf_checkpoint(directory / "hf", "llama", tie_word_embeddings=True, seed=7)
    return testing.write_llama_gguf_from_hf(checkpoint, directory / "model.gguf", matrix_type="Q4_1")


def test_decode_with_the_kernel_matches_dense_decode(tmp_path: Path, q4_1_gguf: Path):
    flags = (
        "--weight-dtype=float16", "--attention-kernel", "grouped", "--fuse-qkv", "--fuse-gate-up",
        "--half-split-rope", "--block-seq-stride", "16",
    )
    dense = testing.export_and_compile(q4_1_gguf, tmp_path / "dense", *flags)
    kernel = testing.export_and_compile(q4_1_gguf, tmp_path / "kernel", *flags, "--q4-1-decode-kernel")
    mlir = (tmp_path / "kernel" / "model.mlir").read_text()
    # Two blocks: q/k/v, attention output, gate-and-up and down each through the kernel.
    for shape in ("128x64", "64x64", "256x64", "64x128"):
        assert f"@q4_1_matvec_{shape}" in mlir
    assert mlir.count("util.call @q4_1_matvec_") == 8

    # Prefill multiplies the same dense weights.
    np.testing.assert_array_equal(kernel.prefill(PROMPT), dense.prefill(PROMPT))
    dense_tokens, dense_logits = dense.greedy(PROMPT, 8)
    kernel_tokens, kernel_logits = kernel.greedy(PROMPT, 8)
    assert kernel_tokens == dense_tokens
    # Decode: exact Q4_1 weights with float32 sums against float16 weights (each a rounding of
    # d * code + m) multiplied by IREE's matmul; logits here are below 4 in magnitude.
    for step_kernel, step_dense in zip(kernel_logits, dense_logits):
        np.testing.assert_allclose(step_kernel, step_dense, rtol=0, atol=2e-2)


def test_option_needs_q4_1_weights_and_dense_prefill(tmp_path: Path, q4_1_gguf: Path):
    outputs = ExportOutputs(tmp_path / "m.mlir", tmp_path / "m.irpa", tmp_path / "c.json")
    with pytest.raises(ExportOptionError, match="--weight-dtype=float16"):
        export_checkpoint(q4_1_gguf, outputs, ExportOptions(q4_1_decode_kernel=True))
    float32_gguf = testing.write_llama_gguf_from_hf(
        testing.write_tiny_hf_checkpoint(tmp_path / "hf", "llama", seed=8), tmp_path / "f32.gguf"
    )
    with pytest.raises(ExportOptionError, match="no matrix weight as Q4_1"):
        export_checkpoint(
            float32_gguf, outputs, ExportOptions(q4_1_decode_kernel=True, weight_dtype=torch.float16)
        )
    assert not any(tmp_path.glob("m.*"))
