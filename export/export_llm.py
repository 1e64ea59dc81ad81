"""Command line entry point: checkpoint -> model.mlir + model.irpa + model_config.json.

    python -m export.export_llm --checkpoint PATH \\
        --output-mlir model.mlir --output-irpa model.irpa --output-config model_config.json \\
        [--bs-prefill 1] [--bs-decode 1] [--attention-kernel torch] [--block-seq-stride 32] \\
        [--context-length N] [--device-block-count N] [--activation-dtype float16] \\
        [--weight-dtype keep|float16|float32|bfloat16] [--fuse-qkv] [--fuse-gate-up]
        [--half-split-rope] [--prefill-last-position] [--prefill-from-position]
        [--block-quantized-decode]

The checkpoint is read and checked (export.checkpoint), saved as IRPA, loaded back from that IRPA
(so the MLIR's parameter names are exactly the IRPA's keys, scope "model"), and exported in-process
(export.programs: sharktank's paged model, functions prefill_bs<N> and decode_bs<N> as sharktank's
export_paged_llm_v1 writes them, paged KV cache).
model_config.json is sharktank's ServiceConfig, the format shortfin reads. The three outputs are
written to temporary files next to their destinations and renamed into place only when all three
are complete. Two runs with the same inputs give byte-identical files.

--weight-dtype, --fuse-qkv, --half-split-rope and --block-quantized-decode rewrite the weights before
the IRPA is saved (export.weight_rewrites says how and why).

--fuse-gate-up multiplies each feed-forward block's gate and up weights, concatenated in the graph, as
one matmul (export.fused_gate_up); the checkpoint's tensors are unchanged.

--prefill-last-position also exports prefill_last_bs<N>: the same prefill, but only each sequence's
last position goes through the output norm and projection, and it returns logits [N, 1, vocab]
(faster long prompts, no logits of every position in memory); prefill_bs<N> stays for callers that
need every position's logits (the parity tests). The runtime prefills with prefill_from_bs<N> from
position 0 instead when the module has it (the same logits), so a bundle needs only one of the two.

--prefill-from-position also exports prefill_from_bs<N>: a prefill of the tokens from a page-aligned
start position on, over pages that already hold the sequence's earlier keys and values; it returns
the last position's logits. The runtime's prefix cache uses it to prefill only what follows a
prompt prefix it has seen (artifacts.prefix_cache).

Progress goes to the log (stderr) with each step's seconds: reading the checkpoint, the weight
rewrites, saving the IRPA, tracing each function (export.programs), writing the MLIR.

--block-quantized-decode also stores the checkpoint's Q4_1 and Q8_0 matrix weights as their blocks
(planes next to each dense weight, export.block_quantized_matvec; a tied output projection gets the
token embedding's), and decode_bs1 multiplies its one row by them with hand-written IREE dispatches
that read 0.625 (Q4_1) or 1.0625 (Q8_0) bytes per weight instead of 2. Prefill keeps the dense
weights (it needs --weight-dtype=float16). llvm-cpu targets only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

from export.checkpoint import load_checkpoint
from export.errors import CheckpointError, ExportOptionError
from export.progress import timed
from export.weight_rewrites import (block_planes, with_block_planes, with_dense_weights, with_fused_qkv,
                                    with_half_split_rope)

# "grouped": decomposed attention batched per key/value head (export.grouped_attention).
GROUPED_ATTENTION_KERNEL = "grouped"
ATTENTION_KERNELS = ("torch", "decomposed", GROUPED_ATTENTION_KERNEL, "sharktank")
ACTIVATION_DTYPES = {
    "float16": torch.float16,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
}
# "keep": weights stay as the checkpoint stores them (GGUF quantized blocks included).
KEEP_WEIGHT_DTYPE = "keep"
WEIGHT_DTYPES = (KEEP_WEIGHT_DTYPE, *sorted(ACTIVATION_DTYPES))
CONTEXT_LENGTH_PROPERTY = "llama.context_length"
# The longest context a bundle is exported for (the longest of current open models, 1M tokens): a
# checkpoint that claims more is cut to --context-length, never sized into a KV cache as it is.
MAX_CONTEXT_LENGTH = 1 << 20
# mkstemp creates files readable by their owner only; outputs are ordinary build artifacts.
_OUTPUT_FILE_MODE = 0o644


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """How to export; None means "derive it from the checkpoint"."""

    prefill_batch_sizes: tuple[int, ...] = (1,)
    decode_batch_sizes: tuple[int, ...] = (1,)
    attention_kernel: str = "torch"
    block_seq_stride: int = 32
    # The longest sequence (prompt + generated tokens) the exported functions accept.
    context_length: int | None = None
    # KV-cache pages recorded in model_config.json for the runtime to allocate. Default: enough
    # for every sequence of the largest batch to reach context_length.
    device_block_count: int | None = None
    activation_dtype: torch.dtype = torch.float16
    # None keeps the checkpoint's weight types; a dtype stores every matrix weight densely in it.
    weight_dtype: torch.dtype | None = None
    # One q/k/v projection matrix per block instead of three (needs dense weights).
    fuse_qkv: bool = False
    # One gate-and-up matmul per feed-forward block instead of two.
    fuse_gate_up: bool = False
    # q/k rows in the rotate-half rotary layout (needs dense weights when the checkpoint is GGUF).
    half_split_rope: bool = False
    # Also export prefill_last_bs<N>, which computes the logits of each sequence's last position only.
    prefill_last_position: bool = False
    # Also export prefill_from_bs<N>, a prefill that starts at a page-aligned position (prefix cache).
    prefill_from_position: bool = False
    # Decode multiplies by the checkpoint's Q4_1/Q8_0 blocks (export.block_quantized_matvec; llvm-cpu).
    block_quantized_decode: bool = False


@dataclasses.dataclass(frozen=True)
class ExportOutputs:
    """Where the three files go."""

    mlir: Path
    irpa: Path
    config: Path


def export_checkpoint(
    checkpoint: str | Path, outputs: ExportOutputs, options: ExportOptions = ExportOptions()
) -> dict:
    """Exports `checkpoint` to the three output files; returns the written model config.

    Raises:
      CheckpointError: the checkpoint cannot be exported (raised before the export starts).
      ExportOptionError: the options do not fit the model or an output directory is missing.
    """
    for path in (outputs.mlir, outputs.irpa, outputs.config):
        if not Path(path).parent.resolve().is_dir():
            raise ExportOptionError(
                f"{path}: the output directory does not exist; create it first."
            )
    _check_options(options)
    with timed(f"reading {checkpoint}"):
        dataset = load_checkpoint(checkpoint, dtype=options.activation_dtype)
    with timed("rewriting the weights"):
        planes = block_planes(dataset) if options.block_quantized_decode else {}
        if options.weight_dtype is not None:
            dataset = with_dense_weights(dataset, options.weight_dtype)
        if planes:
            dataset = with_block_planes(dataset, planes)
        if options.half_split_rope:
            dataset = with_half_split_rope(dataset)
        if options.fuse_qkv:
            dataset = with_fused_qkv(dataset)
    trained_context_length = int(dataset.properties[CONTEXT_LENGTH_PROPERTY])
    context_length = options.context_length or trained_context_length
    if context_length > MAX_CONTEXT_LENGTH:
        raise ExportOptionError(
            f"{checkpoint}: a context length of {context_length} tokens is over the {MAX_CONTEXT_LENGTH} "
            "this export supports (the KV cache is sized for it); set --context-length (llm_export's "
            "context_length) to the window the bundle needs."
        )
    if context_length > trained_context_length:
        raise ExportOptionError(
            f"--context-length {context_length} exceeds the checkpoint's context length "
            f"{trained_context_length}."
        )
    _check_context(context_length, options.block_seq_stride)
    dataset.properties[CONTEXT_LENGTH_PROPERTY] = context_length
    device_block_count = options.device_block_count or _default_device_block_count(
        context_length, options
    )

    pending = _PendingFiles()
    try:
        # The IRPA writer appends ".irpa" to names that do not end with it.
        irpa_temp = pending.reserve(Path(outputs.irpa), suffix=".tmp.irpa")
        with timed("saving the IRPA"):
            dataset.save(irpa_temp, file_type="irpa")
        del dataset
        exported, service_config = _export_from_irpa(irpa_temp, options, device_block_count)
        with timed("writing the MLIR"), pending.reserve(Path(outputs.mlir)).open("wb") as mlir_file:
            exported.mlir_module.print(file=mlir_file, binary=True)
        config = dataclasses.asdict(service_config)
        pending.reserve(Path(outputs.config)).write_text(
            json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        pending.commit()
    finally:
        pending.discard()
    return config


def _export_from_irpa(irpa_path: Path, options: ExportOptions, device_block_count: int):
    """Builds sharktank's paged model from the dataset saved at `irpa_path` (with the options' module
    swaps) and traces its functions (export.programs); returns them and the service config."""
    from sharktank.layers.configs import LlamaModelConfig
    from sharktank.models.llm import PagedLlmModelV1
    from sharktank.models.llm.config import ExportConfig
    from sharktank.models.llm.export import build_service_config

    from export.grouped_attention import GroupedAttentionLlmModel, SHARKTANK_ATTENTION_KERNEL
    from export.fused_gate_up import use_fused_gate_up
    from export.programs import export_programs
    from export.block_quantized_matvec import use_block_quantized_decode
    from export.rotary_without_slices import use_rotate_half_without_slices
    from sharktank.types import Dataset

    dataset = Dataset.load(irpa_path, file_type="irpa", mmap=True)
    model_class = PagedLlmModelV1
    attention_kernel = options.attention_kernel
    if attention_kernel == GROUPED_ATTENTION_KERNEL:
        model_class = GroupedAttentionLlmModel
        attention_kernel = SHARKTANK_ATTENTION_KERNEL
    llama_config = LlamaModelConfig.from_dataset(
        dataset=dataset,
        attention_kernel=attention_kernel,
        block_seq_stride=options.block_seq_stride,
        activation_dtype=options.activation_dtype,
        attention_dtype=options.activation_dtype,
        kv_cache_dtype=options.activation_dtype,
    )
    llama_config.hp.use_fused_qkv = options.fuse_qkv
    export_config = ExportConfig(
        device_block_count=device_block_count,
        logits_normalization="none",
        use_linalgext_topk=False,
        bs_prefill=list(options.prefill_batch_sizes),
        bs_decode=list(options.decode_batch_sizes),
    )

    model = model_class(dataset.root_theta, llama_config)
    if options.half_split_rope:
        use_rotate_half_without_slices(model)
    if options.fuse_gate_up:
        use_fused_gate_up(model)
    if options.block_quantized_decode:
        use_block_quantized_decode(model)
    exported = export_programs(
        model,
        export_config,
        options.prefill_batch_sizes,
        options.decode_batch_sizes,
        last_position_prefill=options.prefill_last_position,
        block_quantized_decode=options.block_quantized_decode,
        position_prefill=options.prefill_from_position,
    )
    return exported, build_service_config(llama_config, export_config=export_config, kv_cache=model.cache)


def _check_options(options: ExportOptions) -> None:
    sizes = options.prefill_batch_sizes + options.decode_batch_sizes
    if not options.prefill_batch_sizes or not options.decode_batch_sizes or min(sizes) < 1:
        raise ExportOptionError(f"batch sizes must be positive integers, got {sizes}.")
    if options.device_block_count is not None and options.device_block_count < 1:
        raise ExportOptionError(
            f"--device-block-count must be positive, got {options.device_block_count}."
        )
    if options.attention_kernel not in ATTENTION_KERNELS:
        raise ExportOptionError(
            f"attention kernel {options.attention_kernel!r} is not one of {ATTENTION_KERNELS}."
        )
    if options.prefill_from_position and options.attention_kernel not in (GROUPED_ATTENTION_KERNEL, "decomposed"):
        # IREE 3.8 cannot compile the fused attention op with a key length other than the query
        # length for llvm-cpu ("large vector sizes"), which a prefill over cached pages needs.
        raise ExportOptionError(
            f"--prefill-from-position needs --attention-kernel=grouped or decomposed, not "
            f"{options.attention_kernel!r}."
        )
    if options.block_quantized_decode and (
        options.weight_dtype != torch.float16 or options.activation_dtype != torch.float16
    ):
        raise ExportOptionError(
            "--block-quantized-decode multiplies float16 activations and keeps dense weights for "
            "prefill; add --weight-dtype=float16 (and keep --activation-dtype=float16)."
        )


def _check_context(context_length: int, block_seq_stride: int) -> None:
    if block_seq_stride < 1 or context_length % block_seq_stride != 0:
        raise ExportOptionError(
            f"--block-seq-stride {block_seq_stride} must divide the context length "
            f"{context_length}; pick a power of two such as 16 or 32, or set --context-length."
        )
    # sharktank's exported functions take between 2 and context_length/stride - 1 pages per
    # sequence (torch.export dynamic-dimension bounds), so the longest usable sequence is
    # context_length - block_seq_stride tokens.
    if context_length // block_seq_stride < 3:
        raise ExportOptionError(
            f"context length {context_length} is under 3 pages of {block_seq_stride} tokens; "
            "raise --context-length or lower --block-seq-stride."
        )


def _default_device_block_count(context_length: int, options: ExportOptions) -> int:
    largest_batch = max(options.prefill_batch_sizes + options.decode_batch_sizes)
    return math.ceil(context_length / options.block_seq_stride) * largest_batch


class _PendingFiles:
    """Temporary files next to their destinations, renamed into place together by commit()."""

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []

    def reserve(self, destination: Path, suffix: str = ".tmp") -> Path:
        """A new empty temporary file for `destination`; `suffix` ends its name."""
        descriptor, temp_name = tempfile.mkstemp(
            dir=destination.parent, prefix=f".{destination.name}.", suffix=suffix
        )
        os.close(descriptor)
        self._pending.append((Path(temp_name), destination))
        return Path(temp_name)

    def commit(self) -> None:
        for temp_path, destination in self._pending:
            os.chmod(temp_path, _OUTPUT_FILE_MODE)
            os.replace(temp_path, destination)
        self._pending.clear()

    def discard(self) -> None:
        for temp_path, _ in self._pending:
            temp_path.unlink(missing_ok=True)
        self._pending.clear()


def _batch_sizes(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(size) for size in text.split(","))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected e.g. 1 or 1,4; got {text!r}") from error


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="export_llm",
        description="Export a GGUF or Hugging Face checkpoint to MLIR + IRPA + model config "
        "with sharktank's paged LLM export.",
    )
    parser.add_argument(
        "--checkpoint", required=True, type=Path,
        help="a .gguf file, or a Hugging Face directory (config.json + *.safetensors)",
    )
    parser.add_argument("--output-mlir", required=True, type=Path)
    parser.add_argument("--output-irpa", required=True, type=Path)
    parser.add_argument("--output-config", required=True, type=Path)
    parser.add_argument("--bs-prefill", type=_batch_sizes, default=(1,),
                        help="prefill batch size(s), comma separated (default 1)")
    parser.add_argument("--bs-decode", type=_batch_sizes, default=(1,),
                        help="decode batch size(s), comma separated (default 1)")
    parser.add_argument("--attention-kernel", choices=ATTENTION_KERNELS, default="torch")
    parser.add_argument("--block-seq-stride", type=int, default=32,
                        help="tokens per KV-cache page (default 32)")
    parser.add_argument("--context-length", type=int, default=None,
                        help="sequence-length bound of the exported functions (default: the "
                        "checkpoint's); sharktank's bounds let a sequence use this minus one page")
    parser.add_argument("--device-block-count", type=int, default=None,
                        help="KV-cache pages to allocate (default: context length / stride "
                        "x largest batch size)")
    parser.add_argument("--activation-dtype", choices=sorted(ACTIVATION_DTYPES),
                        default="float16",
                        help="dtype of activations and KV cache, and of Hugging Face weights "
                        "(norm weights stay float32; GGUF weights keep their types unless "
                        "--weight-dtype says otherwise)")
    parser.add_argument("--weight-dtype", choices=WEIGHT_DTYPES, default=KEEP_WEIGHT_DTYPE,
                        help="store every matrix weight densely in this dtype, dequantizing "
                        "quantized GGUF blocks (default: keep the checkpoint's types)")
    parser.add_argument("--half-split-rope", action="store_true",
                        help="store GGUF q/k rows in the rotate-half rotary layout (needs dense "
                        "weights); the rotary embedding then needs no strided copies")
    parser.add_argument("--fuse-qkv", action="store_true",
                        help="one query/key/value projection matmul per block instead of three "
                        "(needs dense weights)")
    parser.add_argument("--fuse-gate-up", action="store_true",
                        help="one gate-and-up matmul per feed-forward block instead of two")
    parser.add_argument("--prefill-last-position", action="store_true",
                        help="also export prefill_last_bs<N>, a prefill that computes the logits "
                        "of each sequence's last position only (what generation needs)")
    parser.add_argument("--prefill-from-position", action="store_true",
                        help="also export prefill_from_bs<N>, a prefill that starts at a page-aligned "
                        "position over pages that hold the earlier tokens (the runtime's prefix cache)")
    parser.add_argument("--block-quantized-decode", action="store_true",
                        help="decode multiplies by the checkpoint's Q4_1 and Q8_0 blocks with "
                        "hand-written dispatches (llvm-cpu only; needs --weight-dtype=float16)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # An import (sharktank) already gave the root logger a handler; replace it.
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", force=True)
    options = ExportOptions(
        prefill_batch_sizes=args.bs_prefill,
        decode_batch_sizes=args.bs_decode,
        attention_kernel=args.attention_kernel,
        block_seq_stride=args.block_seq_stride,
        context_length=args.context_length,
        device_block_count=args.device_block_count,
        activation_dtype=ACTIVATION_DTYPES[args.activation_dtype],
        weight_dtype=(
            None if args.weight_dtype == KEEP_WEIGHT_DTYPE else ACTIVATION_DTYPES[args.weight_dtype]
        ),
        fuse_qkv=args.fuse_qkv,
        half_split_rope=args.half_split_rope,
        fuse_gate_up=args.fuse_gate_up,
        prefill_last_position=args.prefill_last_position,
        prefill_from_position=args.prefill_from_position,
        block_quantized_decode=args.block_quantized_decode,
    )
    outputs = ExportOutputs(
        mlir=args.output_mlir, irpa=args.output_irpa, config=args.output_config
    )
    try:
        export_checkpoint(args.checkpoint, outputs, options)
    except (CheckpointError, ExportOptionError) as error:
        print(f"export_llm: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
