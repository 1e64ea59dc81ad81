"""Decode's matrix-vector products on Q4_1 blocks, as a hand-written IREE dispatch (`--q4-1-decode-kernel`).

A decode step multiplies one activation row by every weight matrix of the model, so it is bound by
the bytes of weights it reads. Dense f16 weights cost 2 bytes each; the checkpoint's Q4_1 blocks
(32 weights: 16 bytes of 4-bit codes, an f16 scale d and an f16 offset m, weight = d * code + m)
cost 0.625. IREE 3.8 has no CPU microkernel for block-scaled 4-bit weights, and its generated code
for a dequantize-and-multiply `linalg.generic` is slower than the f16 matmul (docs/performance.md,
section 8). This module writes the product itself: a `stream.executable` whose function reads each
row's blocks with vector loads, computes

    y[n] = sum_b d[n, b] * (codes[n, b, :] . x[b, :]) + m[n, b] * sum(x[b, :])

in float32, and is dispatched by a `flow.dispatch` that iree-turbine inlines into the exported
module (the CustomOp `q4_1_matvec`). IREE lowers the function's vector code for the target CPU; the
kernel has no object file and needs no C compiler. It is written for llvm-cpu targets only.

The checkpoint's tensors are stored as three planes next to the layer's dense weight (which prefill
keeps using): `<layer>.q4_1_codes` [N, K/32, 16] uint8, byte j of a block holding weight j in its low
nibble and weight j + 16 in its high nibble (the GGUF order; sharktank's unpacked layout interleaves
them), `<layer>.q4_1_scales` and `<layer>.q4_1_offsets` [N, K/32] f16.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
from iree.turbine.runtime.op_reg import CustomOp, KernelBuilder, KernelSelection, def_library
from iree.turbine.runtime.op_reg.impl_helper import TemplateLoader, call_function
from iree.turbine.support.ir_imports import RankedTensorType
from iree.turbine.transforms.merger import Merger
from sharktank.layers.linear import LinearLayer
from sharktank.types import InferenceTensor
from sharktank.types.layouts import BlockScaledI4Layout
from sharktank.types.tensors import unbox_tensor

BLOCK_SIZE = 32
CODES = "q4_1_codes"
SCALES = "q4_1_scales"
OFFSETS = "q4_1_offsets"
PLANES = (CODES, SCALES, OFFSETS)
# Rows are split among about this many workgroups (IREE's CPU task system runs them on its threads).
_WORKGROUPS = 16

_LIBRARY = def_library("rules_iree_llm")


def q4_1_planes(layout: BlockScaledI4Layout) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(codes [N, K/32, 16] uint8 in GGUF nibble order, scales [N, K/32] f16, offsets [N, K/32] f16)
    of an unpacked unsigned Q4_1 weight [N, K]."""
    interleaved = layout.planes["qs"]
    if layout.signed or interleaved.shape[-1] * 2 != BLOCK_SIZE:
        raise ValueError(f"expected unsigned 4-bit blocks of {BLOCK_SIZE}, got {layout}")
    # sharktank's byte j holds weights 2j (low nibble) and 2j+1 (high nibble).
    values = torch.stack([interleaved & 15, interleaved >> 4], dim=-1).flatten(-2)
    codes = values[..., : BLOCK_SIZE // 2] | (values[..., BLOCK_SIZE // 2 :] << 4)
    return (
        codes.contiguous(),
        layout.d.squeeze(-1).to(torch.float16).contiguous(),
        layout.m.squeeze(-1).to(torch.float16).contiguous(),
    )


def dequantize_planes(codes: torch.Tensor, scales: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """The float32 weight [N, K] the three planes stand for."""
    values = torch.cat([codes & 15, codes >> 4], dim=-1).to(torch.float32)
    weight = values * scales.to(torch.float32).unsqueeze(-1) + offsets.to(torch.float32).unsqueeze(-1)
    return weight.flatten(-2)


def _dispatch_source(rows: int, columns: int) -> str:
    """MLIR of the executable and the function that dispatches it, for a [rows, columns] weight."""
    blocks = columns // BLOCK_SIZE
    rows_per_workgroup = math.ceil(rows / _WORKGROUPS / 4) * 4
    name = f"q4_1_matvec_{rows}x{columns}"
    half = BLOCK_SIZE // 2
    # IREE passes a binding's byte offset in the memref descriptor (binding fusion gives x and y
    # offsets into one transient buffer); only a dynamic-offset layout makes the loads use it.
    x_type = f"memref<{blocks}x{BLOCK_SIZE}xf16, strided<[{BLOCK_SIZE}, 1], offset: ?>>"
    codes_type = f"memref<?x{blocks}x{half}xi8, strided<[{blocks * half}, {half}, 1], offset: ?>>"
    plane_type = f"memref<?x{blocks}xf16, strided<[{blocks}, 1], offset: ?>>"
    y_type = "memref<?xf16, strided<[1], offset: ?>>"
    return f"""
module {{
stream.executable private @{name}_executable {{
  stream.executable.export public @{name} workgroups(%rows: index) -> (index, index, index) {{
    %x = affine.apply affine_map<()[s0] -> (s0 ceildiv {rows_per_workgroup})>()[%rows]
    %c1 = arith.constant 1 : index
    stream.return %x, %c1, %c1 : index, index, index
  }}
  builtin.module {{
    func.func @{name}(%x_binding: !stream.binding, %codes_binding: !stream.binding,
                      %scales_binding: !stream.binding, %offsets_binding: !stream.binding,
                      %y_binding: !stream.binding, %rows: index) {{
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c_half = arith.constant {half} : index
      %c_blocks = arith.constant {blocks} : index
      %c_rows_per_workgroup = arith.constant {rows_per_workgroup} : index
      %zero = arith.constant 0.0 : f32
      %zero_vector = arith.constant dense<0.0> : vector<{half}xf32>
      %low_mask = arith.constant dense<15> : vector<{half}xi8>
      %four = arith.constant dense<4> : vector<{half}xi8>
      %x = stream.binding.subspan %x_binding[%c0] : !stream.binding -> {x_type}
      %codes = stream.binding.subspan %codes_binding[%c0] : !stream.binding -> {codes_type}{{%rows}}
      %scales = stream.binding.subspan %scales_binding[%c0] : !stream.binding -> {plane_type}{{%rows}}
      %offsets = stream.binding.subspan %offsets_binding[%c0] : !stream.binding -> {plane_type}{{%rows}}
      %y = stream.binding.subspan %y_binding[%c0] : !stream.binding -> {y_type}{{%rows}}
      // x in float32, and each block's sum of x (what the offsets multiply).
      %x32 = memref.alloca() : memref<{blocks}x{BLOCK_SIZE}xf32>
      %block_sums = memref.alloca() : memref<{blocks}xf32>
      scf.for %b = %c0 to %c_blocks step %c1 {{
        %low = vector.load %x[%b, %c0] : {x_type}, vector<{half}xf16>
        %high = vector.load %x[%b, %c_half] : {x_type}, vector<{half}xf16>
        %low32 = arith.extf %low : vector<{half}xf16> to vector<{half}xf32>
        %high32 = arith.extf %high : vector<{half}xf16> to vector<{half}xf32>
        vector.store %low32, %x32[%b, %c0] : memref<{blocks}x{BLOCK_SIZE}xf32>, vector<{half}xf32>
        vector.store %high32, %x32[%b, %c_half] : memref<{blocks}x{BLOCK_SIZE}xf32>, vector<{half}xf32>
        %pair = arith.addf %low32, %high32 : vector<{half}xf32>
        %sum = vector.reduction <add>, %pair : vector<{half}xf32> into f32
        memref.store %sum, %block_sums[%b] : memref<{blocks}xf32>
      }}
      %workgroup = stream.dispatch.workgroup.id[0] : index
      %first = arith.muli %workgroup, %c_rows_per_workgroup : index
      %past_end = arith.addi %first, %c_rows_per_workgroup : index
      %last = arith.minui %past_end, %rows : index
      scf.for %r = %first to %last step %c1 {{
        %sums:2 = scf.for %b = %c0 to %c_blocks step %c1
            iter_args(%scaled = %zero_vector, %offset_sum = %zero) -> (vector<{half}xf32>, f32) {{
          %packed = vector.load %codes[%r, %b, %c0] : {codes_type}, vector<{half}xi8>
          %low_codes = arith.andi %packed, %low_mask : vector<{half}xi8>
          %high_codes = arith.shrui %packed, %four : vector<{half}xi8>
          %low_values = arith.uitofp %low_codes : vector<{half}xi8> to vector<{half}xf32>
          %high_values = arith.uitofp %high_codes : vector<{half}xi8> to vector<{half}xf32>
          %x_low = vector.load %x32[%b, %c0] : memref<{blocks}x{BLOCK_SIZE}xf32>, vector<{half}xf32>
          %x_high = vector.load %x32[%b, %c_half] : memref<{blocks}x{BLOCK_SIZE}xf32>, vector<{half}xf32>
          %low_products = arith.mulf %low_values, %x_low : vector<{half}xf32>
          %products = vector.fma %high_values, %x_high, %low_products : vector<{half}xf32>
          %scale16 = memref.load %scales[%r, %b] : {plane_type}
          %scale = arith.extf %scale16 : f16 to f32
          %scale_vector = vector.broadcast %scale : f32 to vector<{half}xf32>
          %next_scaled = vector.fma %products, %scale_vector, %scaled : vector<{half}xf32>
          %offset16 = memref.load %offsets[%r, %b] : {plane_type}
          %offset = arith.extf %offset16 : f16 to f32
          %block_sum = memref.load %block_sums[%b] : memref<{blocks}xf32>
          %next_offset_sum = math.fma %offset, %block_sum, %offset_sum : f32
          scf.yield %next_scaled, %next_offset_sum : vector<{half}xf32>, f32
        }}
        %total = vector.reduction <add>, %sums#0, %sums#1 : vector<{half}xf32> into f32
        %total16 = arith.truncf %total : f32 to f16
        memref.store %total16, %y[%r] : {y_type}
      }}
      return
    }}
  }}
}}
util.func private @{name}(%x: tensor<1x{columns}xf16>, %codes: tensor<{rows}x{blocks}x{half}xi8>,
                          %scales: tensor<{rows}x{blocks}xf16>, %offsets: tensor<{rows}x{blocks}xf16>)
    -> tensor<1x{rows}xf16> {{
  %rows = arith.constant {rows} : index
  %x_blocks = tensor.expand_shape %x [[0, 1], [2, 3]] output_shape [1, 1, {blocks}, {BLOCK_SIZE}]
      : tensor<1x{columns}xf16> into tensor<1x1x{blocks}x{BLOCK_SIZE}xf16>
  %x_flat = tensor.collapse_shape %x_blocks [[0, 1, 2], [3]]
      : tensor<1x1x{blocks}x{BLOCK_SIZE}xf16> into tensor<{blocks}x{BLOCK_SIZE}xf16>
  %y = flow.dispatch @{name}_executable::@{name}[%rows](%x_flat, %codes, %scales, %offsets, %rows)
      : (tensor<{blocks}x{BLOCK_SIZE}xf16>, tensor<{rows}x{blocks}x{half}xi8>, tensor<{rows}x{blocks}xf16>,
         tensor<{rows}x{blocks}xf16>, index) -> tensor<{rows}xf16>
  %y_row = tensor.expand_shape %y [[0, 1]] output_shape [1, {rows}] : tensor<{rows}xf16> into tensor<1x{rows}xf16>
  util.return %y_row : tensor<1x{rows}xf16>
}}
}}
"""


class _SourceLoader(TemplateLoader):
    """Parses the executable source of one weight shape."""

    def load_template(self, kb: KernelBuilder, name: str, **kwargs):
        return self._parse_module_asm(kb, _dispatch_source(kwargs["rows"], kwargs["columns"]))


_LOADER = _SourceLoader()


@CustomOp.register(library=_LIBRARY)
class q4_1_matvec(CustomOp):
    """y [1, N] f16 = x [1, K] f16 times the transposed Q4_1 weight [N, K] given as its three planes."""

    signature = "q4_1_matvec(Tensor x, Tensor codes, Tensor scales, Tensor offsets) -> (Tensor)"

    def select(self, ksel: KernelSelection):
        x = ksel.arg_tensor(0)
        codes = ksel.arg_tensor(1)
        scales = ksel.arg_tensor(2)
        offsets = ksel.arg_tensor(3)
        rows, blocks, half = codes.t.shape
        torch._check(
            tuple(x.t.shape) == (1, blocks * BLOCK_SIZE) and x.t.dtype == torch.float16,
            lambda: f"q4_1_matvec: x must be f16 [1, {blocks * BLOCK_SIZE}], got {x.t.dtype} {list(x.t.shape)}",
        )
        torch._check(
            half * 2 == BLOCK_SIZE and codes.t.dtype == torch.uint8,
            lambda: f"q4_1_matvec: codes must be uint8 [N, K/32, 16], got {codes.t.dtype} {list(codes.t.shape)}",
        )
        for plane in (scales, offsets):
            torch._check(
                tuple(plane.t.shape) == (rows, blocks) and plane.t.dtype == torch.float16,
                lambda: f"q4_1_matvec: scales and offsets must be f16 [{rows}, {blocks}]",
            )
        for argument in (x, codes, scales, offsets):
            argument.specialize_all_dims()
        ksel.return_new_tensor([1, rows], dtype=torch.float16).specialize_all_dims()

    def generate(self, ksel: KernelSelection, kb: KernelBuilder):
        rows, blocks, _ = RankedTensorType(kb.arg_value(1).type).shape
        name = f"q4_1_matvec_{rows}x{blocks * BLOCK_SIZE}"
        try:
            function = kb.symbol_table[name]
        except KeyError:
            source = _LOADER.load_template(kb, name, rows=rows, columns=blocks * BLOCK_SIZE)
            Merger(source, kb.module_body.owner, target_symbol_table=kb.symbol_table).merge()
            function = kb.symbol_table[name]
        kb.yield_results(*call_function(function, *kb.arg_bindings))


class Q4_1DecodeLinear(LinearLayer):
    """A `LinearLayer` whose theta also holds the weight's Q4_1 planes. While `decode_kernel` is set
    (export.programs sets it for the decode functions) a single f16 row goes through q4_1_matvec;
    everything else (prefill, eager runs) multiplies the dense weight as sharktank does."""

    decode_kernel = False

    def forward(self, x):
        if not self.uses_kernel_for(x):
            return super().forward(x)
        y = q4_1_product(x, [self])
        if self.bias is not None:
            y = y + unbox_tensor(self.bias).to(y.dtype)
        return y

    def uses_kernel_for(self, x) -> bool:
        """Whether forward(x) runs q4_1_matvec: decode tracing, one f16 row, no input/output quantizers."""
        plain = all(
            quantizer is None
            for quantizer in (self.premul_input, self.q_input, self.qdq_input, self.qdq_output, self.q_output)
        )
        rows = math.prod(x.shape[:-1])
        return (
            self.decode_kernel
            and plain
            and isinstance(rows, int)
            and rows == 1
            and unbox_tensor(x).dtype == torch.float16
        )


def q4_1_product(x, layers: list[Q4_1DecodeLinear]) -> torch.Tensor:
    """x [..., K] (one row) times the weights of `layers` stacked by rows, without biases:
    [..., sum of their N]. Several layers' planes are concatenated in the graph, which IREE evaluates
    at compile time, so they run as one dispatch."""
    row = unbox_tensor(x).reshape(1, -1)
    planes = [[unbox_tensor(layer.theta.tensor(plane)) for layer in layers] for plane in PLANES]
    stacked = [parts[0] if len(parts) == 1 else torch.cat(parts, dim=0) for parts in planes]
    return q4_1_matvec(row, *stacked).reshape(*x.shape[:-1], -1)


def use_q4_1_decode_kernel(model: torch.nn.Module) -> int:
    """Makes each `LinearLayer` of `model` whose theta holds Q4_1 planes a `Q4_1DecodeLinear`;
    returns how many there are."""
    count = 0
    for module in model.modules():
        if type(module) is LinearLayer and all(plane in module.theta.keys for plane in PLANES):
            module.__class__ = Q4_1DecodeLinear
            count += 1
    return count


@contextlib.contextmanager
def q4_1_decode_kernel(model: torch.nn.Module) -> Iterator[None]:
    """While tracing, `model`'s Q4_1DecodeLinear layers use the kernel for single rows."""
    layers = [module for module in model.modules() if isinstance(module, Q4_1DecodeLinear)]
    for layer in layers:
        layer.decode_kernel = True
    try:
        yield
    finally:
        for layer in layers:
            layer.decode_kernel = False


def q4_1_planes_of(name: str, tensor: InferenceTensor) -> dict[str, torch.Tensor]:
    """The three planes of a Q4_1 checkpoint tensor `<layer>.weight`, keyed `<layer>.<plane>`;
    empty if the tensor is not stored as Q4_1 blocks or is the token embedding (not a matmul)."""
    if not name.endswith(".weight") or name.startswith("token_embd.") or not hasattr(tensor, "unpack"):
        return {}
    layout = tensor.unpack()
    if not isinstance(layout, BlockScaledI4Layout) or layout.signed or "m" not in layout.planes:
        return {}
    if layout.planes["qs"].shape[-1] * 2 != BLOCK_SIZE:
        return {}
    layer = name[: -len(".weight")]
    return dict(zip((f"{layer}.{plane}" for plane in PLANES), q4_1_planes(layout)))
