"""Decode's matrix-vector products on the checkpoint's Q4_1 and Q8_0 blocks, as hand-written IREE
dispatches (`--block-quantized-decode`).

A decode step multiplies one activation row by every weight matrix of the model, so it is bound by
the bytes of weights it reads. Dense f16 weights cost 2 bytes each; GGUF blocks of 32 weights cost
0.625 (Q4_1: 16 bytes of 4-bit codes, an f16 scale d and an f16 offset m, weight = d * code + m) or
1.0625 (Q8_0: 32 signed bytes and an f16 scale, weight = d * code). IREE 3.8 has no CPU microkernel
for block-scaled weights, and its generated code for a dequantize-and-multiply `linalg.generic` is
slower than the f16 matmul (docs/performance.md, section 8). This module writes the product itself:
a `stream.executable` whose function reads each row's blocks with vector loads and computes

    y[n] = sum_b d[n, b] * (codes[n, b, :] . x[b, :]) (+ m[n, b] * sum(x[b, :]) for Q4_1)

in float32, dispatched by a `flow.dispatch` that iree-turbine inlines into the exported module (the
CustomOps `q4_1_matvec` and `q8_0_matvec`). IREE lowers the vector code for the target CPU; there is
no object file and no C compiler. It is written for llvm-cpu targets only.

A layer's blocks are stored as planes next to its dense weight (which prefill keeps using):
`<layer>.q4_1_codes` [N, K/32, 16] uint8 (byte j of a block holds weight j in its low nibble and
weight j + 16 in its high nibble, the GGUF order; sharktank's unpacked layout interleaves them),
`<layer>.q4_1_scales` and `<layer>.q4_1_offsets` [N, K/32] f16; or `<layer>.q8_0_codes`
[N, K/32, 32] int8 and `<layer>.q8_0_scales` [N, K/32] f16.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator

import torch
from iree.turbine.runtime.op_reg import CustomOp, KernelBuilder, KernelSelection, def_library
from iree.turbine.runtime.op_reg.impl_helper import TemplateLoader, call_function
from iree.turbine.support.ir_imports import RankedTensorType
from iree.turbine.transforms.merger import Merger
from sharktank.layers.linear import LinearLayer
from sharktank.types import InferenceTensor, QuantizedTensor
from sharktank.types.layouts import BlockScaledI4Layout, BlockScaledLayout
from sharktank.types.tensors import unbox_tensor

BLOCK_SIZE = 32
_HALF = BLOCK_SIZE // 2
# Rows are split among about this many workgroups (IREE's CPU task system runs them on its threads).
_WORKGROUPS = 16


@dataclasses.dataclass(frozen=True)
class BlockFormat:
    """A GGUF block type as the kernel reads it."""

    name: str
    # Bytes of codes per block of 32 weights.
    code_bytes: int
    codes_dtype: torch.dtype
    has_offsets: bool

    @property
    def planes(self) -> tuple[str, ...]:
        """Plane names, in the kernel's argument order."""
        names = ("codes", "scales", "offsets") if self.has_offsets else ("codes", "scales")
        return tuple(f"{self.name}_{plane}" for plane in names)


Q4_1 = BlockFormat("q4_1", code_bytes=16, codes_dtype=torch.uint8, has_offsets=True)
Q8_0 = BlockFormat("q8_0", code_bytes=32, codes_dtype=torch.int8, has_offsets=False)
FORMATS = (Q4_1, Q8_0)

_LIBRARY = def_library("rules_iree_llm")


def q4_1_planes(layout: BlockScaledI4Layout) -> tuple[torch.Tensor, ...]:
    """(codes [N, K/32, 16] uint8 in GGUF nibble order, scales, offsets [N, K/32] f16) of an
    unpacked unsigned Q4_1 weight [N, K]."""
    interleaved = layout.planes["qs"]
    # sharktank's byte j holds weights 2j (low nibble) and 2j+1 (high nibble).
    values = torch.stack([interleaved & 15, interleaved >> 4], dim=-1).flatten(-2)
    codes = values[..., :_HALF] | (values[..., _HALF:] << 4)
    return (
        codes.contiguous(),
        layout.d.squeeze(-1).to(torch.float16).contiguous(),
        layout.m.squeeze(-1).to(torch.float16).contiguous(),
    )


def q8_0_planes(layout: BlockScaledLayout) -> tuple[torch.Tensor, ...]:
    """(codes [N, K/32, 32] int8, scales [N, K/32] f16) of an unpacked Q8_0 weight [N, K]."""
    return (
        layout.planes["qs"].to(torch.int8).contiguous(),
        layout.d.squeeze(-1).to(torch.float16).contiguous(),
    )


def dequantize_planes(codes: torch.Tensor, scales: torch.Tensor, offsets: torch.Tensor | None = None) -> torch.Tensor:
    """The float32 weight [N, K] that Q4_1 (with offsets) or Q8_0 planes stand for."""
    if offsets is None:
        values = codes.to(torch.float32)
    else:
        values = torch.cat([codes & 15, codes >> 4], dim=-1).to(torch.float32)
    weight = values * scales.to(torch.float32).unsqueeze(-1)
    if offsets is not None:
        weight = weight + offsets.to(torch.float32).unsqueeze(-1)
    return weight.flatten(-2)


def _block_body(block_format: BlockFormat, blocks: int, codes_type: str, plane_type: str) -> str:
    """The inner loop body: block %b of row %r into (%scaled, %offset_sum)."""
    if block_format.has_offsets:
        codes = f"""
          %packed = vector.load %codes[%r, %b, %c0] : {codes_type}, vector<{_HALF}xi8>
          %low_codes = arith.andi %packed, %low_mask : vector<{_HALF}xi8>
          %high_codes = arith.shrui %packed, %four : vector<{_HALF}xi8>
          %low_values = arith.uitofp %low_codes : vector<{_HALF}xi8> to vector<{_HALF}xf32>
          %high_values = arith.uitofp %high_codes : vector<{_HALF}xi8> to vector<{_HALF}xf32>"""
        offset = f"""
          %offset16 = memref.load %offsets[%r, %b] : {plane_type}
          %offset = arith.extf %offset16 : f16 to f32
          %block_sum = memref.load %block_sums[%b] : memref<{blocks}xf32>
          %next_offset_sum = math.fma %offset, %block_sum, %offset_sum : f32"""
        next_offset_sum = "%next_offset_sum"
    else:
        codes = f"""
          %low_codes = vector.load %codes[%r, %b, %c0] : {codes_type}, vector<{_HALF}xi8>
          %high_codes = vector.load %codes[%r, %b, %c_half] : {codes_type}, vector<{_HALF}xi8>
          %low_values = arith.sitofp %low_codes : vector<{_HALF}xi8> to vector<{_HALF}xf32>
          %high_values = arith.sitofp %high_codes : vector<{_HALF}xi8> to vector<{_HALF}xf32>"""
        offset = ""
        next_offset_sum = "%offset_sum"
    return f"""{codes}
          %x_low = vector.load %x32[%b, %c0] : memref<{blocks}x{BLOCK_SIZE}xf32>, vector<{_HALF}xf32>
          %x_high = vector.load %x32[%b, %c_half] : memref<{blocks}x{BLOCK_SIZE}xf32>, vector<{_HALF}xf32>
          %low_products = arith.mulf %low_values, %x_low : vector<{_HALF}xf32>
          %products = vector.fma %high_values, %x_high, %low_products : vector<{_HALF}xf32>
          %scale16 = memref.load %scales[%r, %b] : {plane_type}
          %scale = arith.extf %scale16 : f16 to f32
          %scale_vector = vector.broadcast %scale : f32 to vector<{_HALF}xf32>
          %next_scaled = vector.fma %products, %scale_vector, %scaled : vector<{_HALF}xf32>{offset}
          scf.yield %next_scaled, {next_offset_sum} : vector<{_HALF}xf32>, f32"""


def _dispatch_source(block_format: BlockFormat, rows: int, columns: int) -> str:
    """MLIR of the executable and of the util.func that dispatches it, for a [rows, columns] weight."""
    blocks = columns // BLOCK_SIZE
    rows_per_workgroup = math.ceil(rows / _WORKGROUPS / 4) * 4
    name = f"{block_format.name}_matvec_{rows}x{columns}"
    code_bytes = block_format.code_bytes
    # IREE passes a binding's byte offset in the memref descriptor (binding fusion gives x and y
    # offsets into one transient buffer); only a dynamic-offset layout makes the loads use it.
    x_type = f"memref<{blocks}x{BLOCK_SIZE}xf16, strided<[{BLOCK_SIZE}, 1], offset: ?>>"
    codes_type = f"memref<?x{blocks}x{code_bytes}xi8, strided<[{blocks * code_bytes}, {code_bytes}, 1], offset: ?>>"
    plane_type = f"memref<?x{blocks}xf16, strided<[{blocks}, 1], offset: ?>>"
    y_type = "memref<?xf16, strided<[1], offset: ?>>"
    codes_tensor = f"tensor<{rows}x{blocks}x{code_bytes}xi8>"
    plane_tensor = f"tensor<{rows}x{blocks}xf16>"
    offsets_binding = ", %offsets_binding: !stream.binding" if block_format.has_offsets else ""
    offsets_subspan = (
        f"%offsets = stream.binding.subspan %offsets_binding[%c0] : !stream.binding -> {plane_type}{{%rows}}"
        if block_format.has_offsets
        else ""
    )
    offsets_argument = f", %offsets: {plane_tensor}" if block_format.has_offsets else ""
    offsets_operand = ", %offsets" if block_format.has_offsets else ""
    offsets_operand_type = f", {plane_tensor}" if block_format.has_offsets else ""
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
                      %scales_binding: !stream.binding{offsets_binding}, %y_binding: !stream.binding,
                      %rows: index) {{
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c_half = arith.constant {_HALF} : index
      %c_blocks = arith.constant {blocks} : index
      %c_rows_per_workgroup = arith.constant {rows_per_workgroup} : index
      %zero = arith.constant 0.0 : f32
      %zero_vector = arith.constant dense<0.0> : vector<{_HALF}xf32>
      %low_mask = arith.constant dense<15> : vector<{_HALF}xi8>
      %four = arith.constant dense<4> : vector<{_HALF}xi8>
      %x = stream.binding.subspan %x_binding[%c0] : !stream.binding -> {x_type}
      %codes = stream.binding.subspan %codes_binding[%c0] : !stream.binding -> {codes_type}{{%rows}}
      %scales = stream.binding.subspan %scales_binding[%c0] : !stream.binding -> {plane_type}{{%rows}}
      {offsets_subspan}
      %y = stream.binding.subspan %y_binding[%c0] : !stream.binding -> {y_type}{{%rows}}
      // x in float32, and each block's sum of x (what Q4_1's offsets multiply).
      %x32 = memref.alloca() : memref<{blocks}x{BLOCK_SIZE}xf32>
      %block_sums = memref.alloca() : memref<{blocks}xf32>
      scf.for %b = %c0 to %c_blocks step %c1 {{
        %low = vector.load %x[%b, %c0] : {x_type}, vector<{_HALF}xf16>
        %high = vector.load %x[%b, %c_half] : {x_type}, vector<{_HALF}xf16>
        %low32 = arith.extf %low : vector<{_HALF}xf16> to vector<{_HALF}xf32>
        %high32 = arith.extf %high : vector<{_HALF}xf16> to vector<{_HALF}xf32>
        vector.store %low32, %x32[%b, %c0] : memref<{blocks}x{BLOCK_SIZE}xf32>, vector<{_HALF}xf32>
        vector.store %high32, %x32[%b, %c_half] : memref<{blocks}x{BLOCK_SIZE}xf32>, vector<{_HALF}xf32>
        %pair = arith.addf %low32, %high32 : vector<{_HALF}xf32>
        %sum = vector.reduction <add>, %pair : vector<{_HALF}xf32> into f32
        memref.store %sum, %block_sums[%b] : memref<{blocks}xf32>
      }}
      %workgroup = stream.dispatch.workgroup.id[0] : index
      %first = arith.muli %workgroup, %c_rows_per_workgroup : index
      %past_end = arith.addi %first, %c_rows_per_workgroup : index
      %last = arith.minui %past_end, %rows : index
      scf.for %r = %first to %last step %c1 {{
        %sums:2 = scf.for %b = %c0 to %c_blocks step %c1
            iter_args(%scaled = %zero_vector, %offset_sum = %zero) -> (vector<{_HALF}xf32>, f32) {{{_block_body(block_format, blocks, codes_type, plane_type)}
        }}
        %total = vector.reduction <add>, %sums#0, %sums#1 : vector<{_HALF}xf32> into f32
        %total16 = arith.truncf %total : f32 to f16
        memref.store %total16, %y[%r] : {y_type}
      }}
      return
    }}
  }}
}}
util.func private @{name}(%x: tensor<1x{columns}xf16>, %codes: {codes_tensor}, %scales: {plane_tensor}{offsets_argument})
    -> tensor<1x{rows}xf16> {{
  %rows = arith.constant {rows} : index
  %x_blocks = tensor.expand_shape %x [[0, 1], [2, 3]] output_shape [1, 1, {blocks}, {BLOCK_SIZE}]
      : tensor<1x{columns}xf16> into tensor<1x1x{blocks}x{BLOCK_SIZE}xf16>
  %x_flat = tensor.collapse_shape %x_blocks [[0, 1, 2], [3]]
      : tensor<1x1x{blocks}x{BLOCK_SIZE}xf16> into tensor<{blocks}x{BLOCK_SIZE}xf16>
  %y = flow.dispatch @{name}_executable::@{name}[%rows](%x_flat, %codes, %scales{offsets_operand}, %rows)
      : (tensor<{blocks}x{BLOCK_SIZE}xf16>, {codes_tensor}, {plane_tensor}{offsets_operand_type}, index)
      -> tensor<{rows}xf16>
  %y_row = tensor.expand_shape %y [[0, 1]] output_shape [1, {rows}] : tensor<{rows}xf16> into tensor<1x{rows}xf16>
  util.return %y_row : tensor<1x{rows}xf16>
}}
}}
"""


class _SourceLoader(TemplateLoader):
    """Parses the executable source of one block format and weight shape."""

    def load_template(self, kb: KernelBuilder, name: str, **kwargs):
        source = _dispatch_source(kwargs["block_format"], kwargs["rows"], kwargs["columns"])
        return self._parse_module_asm(kb, source)


_LOADER = _SourceLoader()


def _select(block_format: BlockFormat, ksel: KernelSelection) -> None:
    """Checks the arguments of a `<format>_matvec` call and declares its result [1, N] f16."""
    x = ksel.arg_tensor(0)
    codes = ksel.arg_tensor(1)
    planes = [ksel.arg_tensor(index) for index in range(2, 2 + len(block_format.planes) - 1)]
    rows, blocks, code_bytes = codes.t.shape
    op = f"{block_format.name}_matvec"
    torch._check(
        tuple(x.t.shape) == (1, blocks * BLOCK_SIZE) and x.t.dtype == torch.float16,
        lambda: f"{op}: x must be f16 [1, {blocks * BLOCK_SIZE}], got {x.t.dtype} {list(x.t.shape)}",
    )
    torch._check(
        code_bytes == block_format.code_bytes and codes.t.dtype == block_format.codes_dtype,
        lambda: f"{op}: codes must be {block_format.codes_dtype} [N, K/32, {block_format.code_bytes}], "
        f"got {codes.t.dtype} {list(codes.t.shape)}",
    )
    for plane in planes:
        torch._check(
            tuple(plane.t.shape) == (rows, blocks) and plane.t.dtype == torch.float16,
            lambda: f"{op}: scales (and offsets) must be f16 [{rows}, {blocks}]",
        )
    for argument in (x, codes, *planes):
        argument.specialize_all_dims()
    ksel.return_new_tensor([1, rows], dtype=torch.float16).specialize_all_dims()


def _generate(block_format: BlockFormat, kb: KernelBuilder) -> None:
    """Inlines the executable of this weight shape (once per module) and calls it."""
    rows, blocks, _ = RankedTensorType(kb.arg_value(1).type).shape
    columns = blocks * BLOCK_SIZE
    name = f"{block_format.name}_matvec_{rows}x{columns}"
    try:
        function = kb.symbol_table[name]
    except KeyError:
        source = _LOADER.load_template(kb, name, block_format=block_format, rows=rows, columns=columns)
        Merger(source, kb.module_body.owner, target_symbol_table=kb.symbol_table).merge()
        function = kb.symbol_table[name]
    kb.yield_results(*call_function(function, *kb.arg_bindings))


@CustomOp.register(library=_LIBRARY)
class q4_1_matvec(CustomOp):
    """y [1, N] f16 = x [1, K] f16 times the transposed Q4_1 weight [N, K] given as its three planes."""

    signature = "q4_1_matvec(Tensor x, Tensor codes, Tensor scales, Tensor offsets) -> (Tensor)"

    def select(self, ksel: KernelSelection):
        _select(Q4_1, ksel)

    def generate(self, ksel: KernelSelection, kb: KernelBuilder):
        _generate(Q4_1, kb)


@CustomOp.register(library=_LIBRARY)
class q8_0_matvec(CustomOp):
    """y [1, N] f16 = x [1, K] f16 times the transposed Q8_0 weight [N, K] given as its two planes."""

    signature = "q8_0_matvec(Tensor x, Tensor codes, Tensor scales) -> (Tensor)"

    def select(self, ksel: KernelSelection):
        _select(Q8_0, ksel)

    def generate(self, ksel: KernelSelection, kb: KernelBuilder):
        _generate(Q8_0, kb)


_MATVEC_OPS = {Q4_1: q4_1_matvec, Q8_0: q8_0_matvec}


class BlockQuantizedDecodeLinear(LinearLayer):
    """A `LinearLayer` whose theta also holds the weight's Q4_1 or Q8_0 planes. While
    `decode_kernel` is set (export.programs sets it for the decode functions) a single f16 row goes
    through the format's kernel; everything else (prefill, eager runs) multiplies the dense weight
    as sharktank does."""

    decode_kernel = False

    @property
    def block_format(self) -> BlockFormat:
        return next(fmt for fmt in FORMATS if all(plane in self.theta.keys for plane in fmt.planes))

    def forward(self, x):
        if not self.uses_kernel_for(x):
            return super().forward(x)
        y = block_quantized_product(x, [self])
        if self.bias is not None:
            y = y + unbox_tensor(self.bias).to(y.dtype)
        return y

    def uses_kernel_for(self, x) -> bool:
        """Whether forward(x) runs the kernel: decode tracing, one f16 row, no input/output quantizers."""
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


def block_quantized_product(x, layers: list[BlockQuantizedDecodeLinear]) -> torch.Tensor:
    """x [..., K] (one row) times the weights of `layers` (one block format) stacked by rows,
    without biases: [..., sum of their N]. Several layers' planes are concatenated in the graph,
    which IREE evaluates at compile time, so they run as one dispatch."""
    block_format = layers[0].block_format
    if any(layer.block_format != block_format for layer in layers):
        raise ValueError("block_quantized_product: the layers are stored in different block formats")
    row = unbox_tensor(x).reshape(1, -1)
    planes = [[unbox_tensor(layer.theta.tensor(plane)) for layer in layers] for plane in block_format.planes]
    stacked = [parts[0] if len(parts) == 1 else torch.cat(parts, dim=0) for parts in planes]
    return _MATVEC_OPS[block_format](row, *stacked).reshape(*x.shape[:-1], -1)


def use_block_quantized_decode(model: torch.nn.Module) -> int:
    """Makes each `LinearLayer` of `model` whose theta holds Q4_1 or Q8_0 planes a
    `BlockQuantizedDecodeLinear`; returns how many there are."""
    count = 0
    for module in model.modules():
        if type(module) is LinearLayer and any(
            all(plane in module.theta.keys for plane in fmt.planes) for fmt in FORMATS
        ):
            module.__class__ = BlockQuantizedDecodeLinear
            count += 1
    return count


@contextlib.contextmanager
def block_quantized_decode(model: torch.nn.Module) -> Iterator[None]:
    """While tracing, `model`'s BlockQuantizedDecodeLinear layers use their kernel for single rows."""
    layers = [module for module in model.modules() if isinstance(module, BlockQuantizedDecodeLinear)]
    for layer in layers:
        layer.decode_kernel = True
    try:
        yield
    finally:
        for layer in layers:
            layer.decode_kernel = False


def planes_of(layer: str, tensor: InferenceTensor) -> dict[str, torch.Tensor]:
    """The planes of `tensor`, a layer's weight stored as Q4_1 or Q8_0 blocks of 32, keyed
    `<layer>.<plane>`; empty for any other storage."""
    if not isinstance(tensor, QuantizedTensor):
        return {}
    layout = tensor.unpack()
    if layout.planes["qs"].shape[-1] * (2 if isinstance(layout, BlockScaledI4Layout) else 1) != BLOCK_SIZE:
        return {}
    if isinstance(layout, BlockScaledI4Layout) and not layout.signed and "m" in layout.planes:
        block_format, planes = Q4_1, q4_1_planes(layout)
    elif type(layout) is BlockScaledLayout and "m" not in layout.planes and layout.planes["qs"].dtype == torch.int8:
        block_format, planes = Q8_0, q8_0_planes(layout)
    else:
        return {}
    return {f"{layer}.{plane}": data for plane, data in zip(block_format.planes, planes)}
