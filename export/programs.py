"""The functions an exported LLM module holds, traced from a sharktank paged model.

    prefill_bs<N>(tokens[N, L], seq_lens[N], seq_block_ids[N, L / stride], cache) -> logits[N, L, vocab]
    prefill_last_bs<N>(same arguments) -> logits[N, 1, vocab]      (with last_position_prefill)
    prefill_from_bs<N>(tokens[N, C], start_positions[N], seq_lens[N], seq_block_ids[N, B], cache)
        -> logits[N, 1, vocab]                                      (with position_prefill)
    decode_bs<N>(tokens[N, 1], seq_lens[N], start_positions[N], seq_block_ids[N, B], cache)
        -> logits[N, 1, vocab]

prefill_bs<N> and decode_bs<N> are the functions of sharktank's export_paged_llm_v1 (the protocol
shortfin and our runtime call), traced with the same dynamic dimensions. prefill_last_bs<N> is the
prefill a generator needs: it fills the same KV-cache pages, but only the hidden state at each
sequence's last position goes through the output norm and the output projection. At 512 positions
that projection (576 x 49152 for SmolLM2) is a fifth of the prefill's arithmetic, and the logits of
every position are the largest transient buffer of a generation (512 x 49152 values, then float32 on
the host).

prefill_from_bs<N> is the prefill a prefix cache needs: the pages before `start_positions` (a multiple
of the page size) already hold the keys and values of the sequence's first tokens, and `tokens` are
the C positions from there (C a multiple of the page size, at least two pages). It writes their
keys and values into the pages from start_positions / stride on, attends over every page of
`seq_block_ids` up to `seq_lens` (the whole sequence's length) and, like prefill_last, returns the
logits of the last position only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import torch
from iree.turbine.aot import ExportOutput, FxProgramsBuilder, export
from sharktank.layers.kv_cache import CacheAllocation
from sharktank.models.llm import PagedLlmModelV1
from sharktank.models.llm.config import ExportConfig
from sharktank.models.llm.export import ServicePagedLlmModelV1
from sharktank.utils.math import ceildiv

from export.block_quantized_matvec import block_quantized_decode as block_quantized_kernels
from export.progress import timed

# torch.export makes the minimum of a dynamic dimension at least 2.
_MIN_PAGES = 2


def _export_program(builder: FxProgramsBuilder, function, name: str, **kwargs) -> None:
    """builder.export_program (a torch.export trace), with its seconds logged."""
    with timed(f"tracing {name}"):
        builder.export_program(function, name=name, strict=False, **kwargs)


class _LastPositionNorm(torch.nn.Module):
    """Applies `norm` to the hidden state of each sequence's last position only: [bs, L, d] -> [bs, 1, d]."""

    def __init__(self, norm: torch.nn.Module, last_positions: torch.Tensor):
        super().__init__()
        self.norm = norm
        self.last_positions = last_positions

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        index = self.last_positions.view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
        return self.norm(torch.gather(hidden, 1, index))


@contextlib.contextmanager
def _last_position_output(model: PagedLlmModelV1, last_positions: torch.Tensor) -> Iterator[None]:
    """While tracing, the model's output norm (and so its output projection) sees only the position
    `last_positions` [bs] of each sequence's tokens."""
    norm = model.output_norm
    model.output_norm = _LastPositionNorm(norm, last_positions)
    try:
        yield
    finally:
        model.output_norm = norm


def _kernels(model: PagedLlmModelV1, enabled: bool) -> contextlib.AbstractContextManager:
    """While tracing, single rows go through the model's block kernels, if `enabled`."""
    return block_quantized_kernels(model) if enabled else contextlib.nullcontext()


def export_programs(
    model: PagedLlmModelV1,
    export_config: ExportConfig,
    prefill_batch_sizes: Sequence[int],
    decode_batch_sizes: Sequence[int],
    last_position_prefill: bool = False,
    block_quantized_decode: bool = False,
    position_prefill: bool = False,
) -> ExportOutput:
    """Traces prefill (and prefill_last and prefill_from, when asked) per prefill batch size and
    decode per decode batch size, and exports them as one MLIR module sharing the model's
    parameters. With `block_quantized_decode`, decode, prefill_last and prefill_from are traced with
    the model's BlockQuantizedDecodeLinear layers on their kernels (which take single rows only: in
    prefill_last and prefill_from that is the output projection)."""
    service = ServicePagedLlmModelV1(model=model, config=export_config)
    builder = FxProgramsBuilder(service)
    stride = model.config.block_seq_stride
    max_pages = ceildiv(model.config.hp.context_length, stride) - 1

    for batch_size in prefill_batch_sizes:
        pages = torch.export.Dim("seq_len_blocks_dim", min=_MIN_PAGES, max=max_pages)
        cache, cache_dynamic_shapes, cache_affinities = service.setup_cache()
        arguments = (
            torch.empty(batch_size, _MIN_PAGES * stride, dtype=torch.int64),
            torch.empty(batch_size, dtype=torch.int64),
            torch.empty(batch_size, _MIN_PAGES, dtype=torch.int64),
            cache,
        )
        dynamic_shapes = {
            "tokens": {1: pages * stride},
            "seq_lens": {},
            "seq_block_ids": {1: pages},
            "cs": cache_dynamic_shapes,
        }
        arg_device = service.setup_arg_devices(cache_affinities, len(dynamic_shapes))

        def prefill(service, tokens, seq_lens, seq_block_ids, cs):
            return service.prefill(tokens, None, seq_lens, seq_block_ids, CacheAllocation(allocation=cs))

        def prefill_last(service, tokens, seq_lens, seq_block_ids, cs):
            # With batch size 1 the output projection multiplies one row: a block kernel's case.
            with _last_position_output(service.model, seq_lens - 1), _kernels(service.model, block_quantized_decode):
                return prefill(service, tokens, seq_lens, seq_block_ids, cs)

        programs = {f"prefill_bs{batch_size}": prefill}
        if last_position_prefill:
            programs[f"prefill_last_bs{batch_size}"] = prefill_last
        for name, function in programs.items():
            _export_program(
                builder, function, name, args=arguments, dynamic_shapes=dynamic_shapes, arg_device=arg_device
            )

        if position_prefill:
            _export_prefill_from(builder, service, batch_size, stride, max_pages, block_quantized_decode)

    for batch_size in decode_batch_sizes:
        pages = torch.export.Dim("seq_len_blocks_dim", min=_MIN_PAGES, max=max_pages)
        cache, cache_dynamic_shapes, cache_affinities = service.setup_cache()
        arguments = (
            torch.empty(batch_size, 1, dtype=torch.int64),
            torch.empty(batch_size, dtype=torch.int64),
            torch.ones(batch_size, dtype=torch.int64),
            torch.empty(batch_size, _MIN_PAGES, dtype=torch.int64),
            cache,
        )
        dynamic_shapes = {
            "tokens": {},
            "seq_lens": {},
            "start_positions": {},
            "seq_block_ids": {1: pages},
            "cache_state": cache_dynamic_shapes,
        }
        arg_device = service.setup_arg_devices(cache_affinities, len(dynamic_shapes))

        def decode(service, tokens, seq_lens, start_positions, seq_block_ids, cache_state):
            with _kernels(service.model, block_quantized_decode):
                return service.decode(
                    tokens, seq_lens, start_positions, seq_block_ids, CacheAllocation(allocation=cache_state)
                )

        _export_program(
            builder,
            decode,
            f"decode_bs{batch_size}",
            args=arguments,
            dynamic_shapes=dynamic_shapes,
            arg_device=arg_device,
        )

    with timed("importing the traced functions into MLIR"):
        return export(builder, import_symbolic_shape_expressions=True)


def _export_prefill_from(
    builder: FxProgramsBuilder,
    service: ServicePagedLlmModelV1,
    batch_size: int,
    stride: int,
    max_pages: int,
    block_quantized_decode: bool,
) -> None:
    """Adds prefill_from_bs<batch_size> to `builder` (see the module docstring)."""
    # Two dynamic page counts: the new tokens' and the whole sequence's. The examples differ (2 and
    # 4 pages, the new tokens starting at page 2) so that tracing does not take them for one.
    chunk_pages = torch.export.Dim("chunk_blocks_dim", min=_MIN_PAGES, max=max_pages)
    pages = torch.export.Dim("seq_len_blocks_dim", min=_MIN_PAGES, max=max_pages)
    cache, cache_dynamic_shapes, cache_affinities = service.setup_cache()
    arguments = (
        torch.empty(batch_size, _MIN_PAGES * stride, dtype=torch.int64),
        torch.full((batch_size,), _MIN_PAGES * stride, dtype=torch.int64),
        torch.full((batch_size,), 2 * _MIN_PAGES * stride, dtype=torch.int64),
        torch.empty(batch_size, 2 * _MIN_PAGES, dtype=torch.int64),
        cache,
    )
    dynamic_shapes = {
        "tokens": {1: chunk_pages * stride},
        "start_positions": {},
        "seq_lens": {},
        "seq_block_ids": {1: pages},
        "cs": cache_dynamic_shapes,
    }
    arg_device = service.setup_arg_devices(cache_affinities, len(dynamic_shapes))

    def prefill_from(service, tokens, start_positions, seq_lens, seq_block_ids, cs):
        last_positions = seq_lens - start_positions - 1
        with _last_position_output(service.model, last_positions), _kernels(service.model, block_quantized_decode):
            return service.prefill(tokens, start_positions, seq_lens, seq_block_ids, CacheAllocation(allocation=cs))

    _export_program(
        builder,
        prefill_from,
        f"prefill_from_bs{batch_size}",
        args=arguments,
        dynamic_shapes=dynamic_shapes,
        arg_device=arg_device,
    )
