"""Export variants beyond the defaults, against transformers on the CPU:

- the "decomposed" attention kernel, which (unlike the default "torch" kernel, whose
  scaled_dot_product_attention dispatches IREE 3.8 cannot translate for CUDA) also compiles for a
  CUDA target; that compile needs no GPU;
- the "grouped" attention kernel with fused q/k/v projections, one gate-and-up matmul and the
  rotary embedding without slices (what the SmolLM2 CPU bundle uses; this Hugging Face checkpoint is already in the
  rotate-half layout), against transformers and against "decomposed" with separate projections,
  whose arithmetic it repeats with the query heads batched per key/value head, one matmul for q, k
  and v, and decode attention as products summed over the cached pages; its prefill_last_bs1
  (--prefill-last-position) against its prefill_bs1's last row, and the cache it leaves behind; its
  prefill_from_bs1 (--prefill-from-position) over cached pages against prefill_last, and the decode
  after it; without the grouped or decomposed kernel, --prefill-from-position is refused;
- bfloat16 activations and KV cache.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export import testing
from export.errors import ExportOptionError
from export.export_llm import ExportOptions, ExportOutputs, export_checkpoint

# float16 activations, as bundles use by default; see test_hf_export.py for the reasoning.
FLOAT16_TOLERANCE = 3e-2
# bfloat16 keeps 8 significant bits (relative step 7.8e-3, 8x float16's); measured 4.2e-2 on
# logits of magnitude ~3. This test checks that the bfloat16 path runs and stays close; the
# tensor mapping itself is checked at float32 in test_hf_export.py.
BFLOAT16_TOLERANCE = 2e-1
PROMPT = [int(token) for token in np.random.default_rng(11).integers(0, 320, size=20)]
CUDA_FLAGS = ("--iree-hal-target-device=cuda", "--iree-cuda-target=sm_80")


def test_decomposed_attention_matches_transformers_and_compiles_for_cuda(tmp_path: Path):
    checkpoint = testing.write_tiny_hf_checkpoint(
        tmp_path / "qwen2", "qwen2", tie_word_embeddings=True, seed=4, rope_theta=1000000.0
    )
    runner = testing.export_and_compile(
        checkpoint, tmp_path / "export",
        "--attention-kernel", "decomposed", "--block-seq-stride", "16",
    )
    testing.assert_matches_reference(
        runner, testing.load_reference_model(checkpoint), PROMPT, 6, FLOAT16_TOLERANCE
    )

    testing.compile_for_target(
        tmp_path / "export" / "model.mlir", tmp_path / "model_cuda.vmfb", CUDA_FLAGS
    )
    assert (tmp_path / "model_cuda.vmfb").stat().st_size > 0


def test_grouped_attention_and_fused_qkv_match_transformers_and_decomposed(tmp_path: Path):
    # 4 query heads share 2 key/value heads in the tiny checkpoints; qwen2 has q/k/v biases.
    checkpoint = testing.write_tiny_hf_checkpoint(
        tmp_path / "qwen2", "qwen2", tie_word_embeddings=True, seed=5, rope_theta=1000000.0
    )
    flags = ("--block-seq-stride", "16")
    grouped = testing.export_and_compile(
        checkpoint, tmp_path / "grouped",
        "--attention-kernel", "grouped", "--fuse-qkv", "--fuse-gate-up", "--half-split-rope",
        "--prefill-last-position", "--prefill-from-position", *flags,
    )
    assert "attn.wqkv.bias" in (tmp_path / "grouped" / "model.mlir").read_text()
    testing.assert_matches_reference(
        grouped, testing.load_reference_model(checkpoint), PROMPT, 6, FLOAT16_TOLERANCE
    )
    decomposed = testing.export_and_compile(
        checkpoint, tmp_path / "decomposed", "--attention-kernel", "decomposed", *flags
    )
    long_prompt = PROMPT * 2  # 40 tokens: three pages, so attention spans pages
    np.testing.assert_allclose(
        grouped.prefill(long_prompt), decomposed.prefill(long_prompt), rtol=0, atol=2e-3
    )
    # Decode attention sums the products in another order than the decomposed matmuls, so float16
    # logits (magnitudes below 8 here) differ by rounding, and by how much depends on the host CPU
    # the llvm-cpu target compiles for: within one float16 step (2^-8) on AMD Zen 5, 0.0049 (5 steps
    # of 2^-10 at a logit of -1.35) on an Intel Xeon with AVX512-FP16. Hence 2^-7.
    decode_tolerance = 2**-7
    position = len(long_prompt)
    np.testing.assert_allclose(
        grouped.decode(PROMPT[0], position), decomposed.decode(PROMPT[0], position),
        rtol=0, atol=decode_tolerance,
    )
    # prefill_last_bs1 fills the same cache and projects the last position's hidden state alone (one
    # row through the output matmul instead of a tile of rows: float16 logits may differ by a step).
    for length in (3, 16, 29, 40):
        every = grouped.prefill(long_prompt[:length])
        last = grouped.prefill(long_prompt[:length], function="prefill_last_bs1")
        assert last.shape == (1, every.shape[1])
        np.testing.assert_allclose(last[0], every[-1], rtol=0, atol=2**-8)
        decomposed.prefill(long_prompt[:length])
        np.testing.assert_allclose(
            grouped.decode(PROMPT[0], length), decomposed.decode(PROMPT[0], length), rtol=0,
            atol=decode_tolerance,
        )
    # prefill_from_bs1 computes the positions from a page boundary on over the pages before it,
    # which hold the same prefix's keys and values: the same last row and the same cache after.
    for start, length in ((16, 40), (16, 33), (32, 40)):
        expected = grouped.prefill(long_prompt[:length], function="prefill_last_bs1")[0]
        expected_decode = grouped.decode(PROMPT[0], length)
        grouped.prefill(long_prompt[:start] + PROMPT[:length - start])  # other keys after `start`
        np.testing.assert_allclose(grouped.prefill_from(long_prompt[:length], start), expected, rtol=0, atol=2**-8)
        np.testing.assert_allclose(grouped.decode(PROMPT[0], length), expected_decode, rtol=0, atol=2**-8)


def test_prefill_from_position_needs_a_decomposed_attention_kernel(tmp_path: Path):
    checkpoint = testing.write_tiny_hf_checkpoint(tmp_path / "llama", "llama", seed=6)
    with pytest.raises(ExportOptionError, match="--prefill-from-position needs --attention-kernel=grouped"):
        export_checkpoint(
            checkpoint,
            ExportOutputs(tmp_path / "m.mlir", tmp_path / "m.irpa", tmp_path / "c.json"),
            ExportOptions(prefill_from_position=True),
        )
    assert not (tmp_path / "m.mlir").exists()


def test_bfloat16_matches_transformers(tmp_path: Path):
    checkpoint = testing.write_tiny_hf_checkpoint(tmp_path / "llama", "llama", seed=6)
    runner = testing.export_and_compile(
        checkpoint, tmp_path / "export",
        "--activation-dtype", "bfloat16", "--block-seq-stride", "16",
    )
    testing.assert_matches_reference(
        runner, testing.load_reference_model(checkpoint), PROMPT, 6, BFLOAT16_TOLERANCE
    )
