"""export.block_quantized_matvec: the Q4_1 and Q8_0 planes, the hand-written decode dispatches
compiled by IREE, and a model exported with --block-quantized-decode against the same model decoding
with dense weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from iree.turbine.aot import export
from sharktank.types.layouts import BlockScaledI4Layout, BlockScaledLayout

from export import testing
from export.block_quantized_matvec import (
    dequantize_planes,
    q4_1_matvec,
    q4_1_planes,
    q8_0_matvec,
    q8_0_planes,
)
from export.errors import ExportOptionError
from export.export_llm import ExportOptions, ExportOutputs, export_checkpoint

PROMPT = [int(token) for token in np.random.default_rng(12).integers(0, 320, size=20)]


def _q4_1_layout(rows: int, columns: int, seed: int) -> BlockScaledI4Layout:
    generator = torch.Generator().manual_seed(seed)
    blocks = columns // 32
    return BlockScaledI4Layout(
        [rows, columns],
        d=(torch.rand(rows, blocks, 1, generator=generator) * 0.02).half(),
        qs=torch.randint(0, 256, (rows, blocks, 16), generator=generator, dtype=torch.uint8),
        m=(-torch.rand(rows, blocks, 1, generator=generator) * 0.1).half(),
        signed=False,
    )


def _q8_0_layout(rows: int, columns: int, seed: int) -> BlockScaledLayout:
    generator = torch.Generator().manual_seed(seed)
    blocks = columns // 32
    return BlockScaledLayout(
        [rows, columns],
        d=(torch.rand(rows, blocks, 1, generator=generator) * 0.002).half(),
        qs=torch.randint(-128, 128, (rows, blocks, 32), generator=generator, dtype=torch.int8),
    )


def test_planes_stand_for_the_same_weight():
    q4_1 = _q4_1_layout(24, 96, seed=1)
    codes, scales, offsets = q4_1_planes(q4_1)
    assert codes.shape == (24, 3, 16) and codes.dtype == torch.uint8
    assert scales.shape == offsets.shape == (24, 3)
    expected = q4_1.dequant(dtype=torch.float32).reshape(24, 96)
    torch.testing.assert_close(dequantize_planes(codes, scales, offsets), expected, rtol=0, atol=0)

    q8_0 = _q8_0_layout(24, 96, seed=2)
    codes, scales = q8_0_planes(q8_0)
    assert codes.shape == (24, 3, 32) and codes.dtype == torch.int8
    expected = q8_0.dequant(dtype=torch.float32).reshape(24, 96)
    torch.testing.assert_close(dequantize_planes(codes, scales), expected, rtol=0, atol=0)


class _AroundTheKernel(torch.nn.Module):
    """Elementwise work before and after, so that IREE puts x and y in one transient buffer at
    nonzero offsets (the case a kernel ignoring binding offsets gets wrong)."""

    def __init__(self, matvec):
        super().__init__()
        self.matvec = matvec

    def forward(self, x, *planes):
        return self.matvec(torch.nn.functional.silu(x * 2), *planes) * 3


@pytest.mark.parametrize(
    "matvec, planes, rows, columns",
    [
        (q4_1_matvec, q4_1_planes(_q4_1_layout(40, 64, seed=40)), 40, 64),
        (q4_1_matvec, q4_1_planes(_q4_1_layout(96, 128, seed=96)), 96, 128),
        (q8_0_matvec, q8_0_planes(_q8_0_layout(72, 96, seed=72)), 72, 96),
    ],
    ids=["q4_1-40x64", "q4_1-96x128", "q8_0-72x96"],
)
def test_compiled_kernel_equals_float32_product(tmp_path: Path, matvec, planes, rows: int, columns: int):
    import iree.runtime as runtime

    x = torch.randn(1, columns, generator=torch.Generator().manual_seed(3)).half()
    exported = export(_AroundTheKernel(matvec), args=(x, *planes))
    exported.save_mlir(tmp_path / "kernel.mlir")
    assert f"flow.dispatch @{matvec.__name__}" in (tmp_path / "kernel.mlir").read_text()
    testing.compile_for_host(tmp_path / "kernel.mlir", tmp_path / "kernel.vmfb")
    config = runtime.Config("local-task")
    context = runtime.SystemContext(config=config)
    context.add_vm_module(runtime.VmModule.mmap(config.vm_instance, str(tmp_path / "kernel.vmfb")))
    result = context.modules.module["main"](x.numpy(), *(plane.numpy() for plane in planes))
    y = np.asarray(result.to_host()).astype(np.float32)

    activated = torch.nn.functional.silu(x * 2).float()
    expected = (3 * (activated @ dequantize_planes(*planes).T)).numpy()
    assert y.shape == (1, rows)
    # float32 sums; IREE's float16 silu may differ from torch's by a step in some inputs, and the
    # result is rounded to float16 twice (the kernel's, then the product by 3). A wrong nibble
    # order, sign, scale or offset moves the results by about their own magnitude.
    np.testing.assert_allclose(y, expected, rtol=0, atol=5e-3 * np.abs(expected).max())


@pytest.fixture(scope="module")
def q4_1_gguf(tmp_path_factory) -> Path:
    """A tiny tied-embedding Llama as SmolLM2's GGUF stores it: Q4_1 matrices, Q8_0 embedding."""
    directory = tmp_path_factory.mktemp("q4_1")
    checkpoint = testing.write_tiny_hf_checkpoint(directory / "hf", "llama", tie_word_embeddings=True, seed=7)
    return testing.write_llama_gguf_from_hf(checkpoint, directory / "model.gguf", matrix_type="Q4_1")


def test_decode_with_the_kernels_matches_dense_decode(tmp_path: Path, q4_1_gguf: Path):
    flags = (
        "--weight-dtype=float16", "--attention-kernel", "grouped", "--fuse-qkv", "--fuse-gate-up",
        "--half-split-rope", "--prefill-last-position", "--block-seq-stride", "16",
    )
    dense = testing.export_and_compile(q4_1_gguf, tmp_path / "dense", *flags)
    kernel = testing.export_and_compile(q4_1_gguf, tmp_path / "kernel", *flags, "--block-quantized-decode")
    mlir = (tmp_path / "kernel" / "model.mlir").read_text()
    # Decode: two blocks of q/k/v, attention output, gate-and-up and down through the Q4_1 kernel,
    # and the output projection (tied to the Q8_0 embedding) through the Q8_0 kernel; prefill_last
    # projects its one row with the Q8_0 kernel too.
    for shape in ("128x64", "64x64", "256x64", "64x128"):
        assert f"@q4_1_matvec_{shape}" in mlir
    assert mlir.count("util.call @q4_1_matvec_") == 8
    assert mlir.count("util.call @q8_0_matvec_320x64") == 2

    # Prefill multiplies the same dense weights.
    np.testing.assert_array_equal(kernel.prefill(PROMPT), dense.prefill(PROMPT))
    np.testing.assert_allclose(
        kernel.prefill(PROMPT, function="prefill_last_bs1"),
        dense.prefill(PROMPT, function="prefill_last_bs1"),
        rtol=0, atol=2e-2,
    )
    dense_tokens, dense_logits = dense.greedy(PROMPT, 8)
    kernel_tokens, kernel_logits = kernel.greedy(PROMPT, 8)
    assert kernel_tokens == dense_tokens
    # Decode: exact block weights with float32 sums against float16 weights (each a rounding of
    # the block's value) multiplied by IREE's matmul; logits here are below 4 in magnitude.
    for step_kernel, step_dense in zip(kernel_logits, dense_logits):
        np.testing.assert_allclose(step_kernel, step_dense, rtol=0, atol=2e-2)


def test_option_needs_block_weights_and_dense_prefill(tmp_path: Path, q4_1_gguf: Path):
    outputs = ExportOutputs(tmp_path / "m.mlir", tmp_path / "m.irpa", tmp_path / "c.json")
    with pytest.raises(ExportOptionError, match="--weight-dtype=float16"):
        export_checkpoint(q4_1_gguf, outputs, ExportOptions(block_quantized_decode=True))
    float32_gguf = testing.write_llama_gguf_from_hf(
        testing.write_tiny_hf_checkpoint(tmp_path / "hf", "llama", seed=8),
        tmp_path / "f32.gguf",
        token_embedding_type="F32",
    )
    with pytest.raises(ExportOptionError, match="no matmul weight as Q4_1 or Q8_0"):
        export_checkpoint(
            float32_gguf, outputs, ExportOptions(block_quantized_decode=True, weight_dtype=torch.float16)
        )
    assert not any(tmp_path.glob("m.*"))
