"""Generates passlib's harder evaluation task set (inputs/, references/ and tasks.json).

    source /work/pyenv.sh; python3 passlib/eval_tasks_hard/generate.py [--jobs N]

Deterministic: fixed seeds, fixed candidate order, files written atomically; running it twice gives
byte-identical files. Needs torch and iree-turbine (only here: the tests read the committed files).

Candidates come from four sources (see README.md):
  torch-export   tiny torch modules exported with iree-turbine, kept at the torch dialect level
                 (the public function's boundary converted to builtin tensors with torch_c casts)
  linalg-export  the same exports lowered to linalg/tensor/arith by torch-mlir's conversion passes
                 run without canonicalize or cse, so their redundancy survives
  iree-input     hand-written modules where the choice and order of passes matters
  trap           single-function modules with a tempting but wrong rewrite (rewrite mode)

For each candidate the best pipeline over passlib's allow-list is searched (beam search, applying one
pass at a time, then pruned to its shortest form and re-run with schedule.apply_pipeline); the task is
kept only when the input parses and verifies, iree-compile compiles it, the input has more operations
than the best pipeline reaches, and the pipeline's output is equivalent to the input for every public
function under passlib.equivalence. A trap's wrong rewrite must also be told apart (a mismatch).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from iree.compiler.tools import binaries  # noqa: E402

from passlib import equivalence, ir, schedule  # noqa: E402
from passlib.torch_lowering import BACKEND_PIPELINE, export_torch, lower_to_linalg, wrap_torch_boundary  # noqa: E402

SEED = 20240611
BEAM_WIDTH = 4
MAX_DEPTH = 6
MAX_FUNCTION_OPS = 150
TUNE_EVERY = 3  # within each kind, tasks 0, 3, 6, ... (in name order) are the tune split
KIND_ORDER = ("torch-export", "linalg-export", "iree-input", "trap")


class Candidate:
    def __init__(self, name: str, kind: str, description: str, text: str, wrong: str | None = None):
        self.name = name
        self.kind = kind
        self.description = description
        self.text = text
        self.wrong = wrong  # trap: the tempting wrong rewrite of the whole module


# --- torch modules ------------------------------------------------------------------------------------


def _torch_modules():
    """(name, description, module, example args) for every tiny torch module."""
    import torch
    from torch import nn

    class MulOneAddZero(nn.Module):
        def forward(self, x):
            return torch.relu(x * 1.0 + 0.0) * 1.0

    class DuplicateLinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(8, 4)

        def forward(self, x):
            return torch.relu(self.linear(x)) + torch.relu(self.linear(x))

    class UnusedBranch(nn.Module):
        def forward(self, x, y):
            unused = torch.tanh(x) * y  # noqa: F841  (dead)
            return x + y

    class TransposeTwice(nn.Module):
        def forward(self, x):
            return x.t().t() + 1.0

    class ReshapeRoundTrip(nn.Module):
        def forward(self, x):
            return x.reshape(4, 4).reshape(16) * 2.0

    class ConstantSubgraph(nn.Module):
        def forward(self, x):
            c = torch.ones(4) * 3.0 + 2.0
            return x + c

    class ElementwiseChain(nn.Module):
        def forward(self, x):
            return torch.sigmoid(((x + 1.0) * 2.0 - 3.0) / 4.0)

    class MlpDuplicateActivation(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(6, 8)
            self.fc2 = nn.Linear(8, 3)

        def forward(self, x):
            h = self.fc1(x)
            return self.fc2(torch.relu(h)) + self.fc2(torch.relu(h))

    class ConvBias(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 3, 3)

        def forward(self, x):
            y = self.conv(x)
            return torch.relu(y) + torch.relu(y)

    class MatmulBias(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.randn(8, 4))
            self.b = nn.Parameter(torch.randn(4))

        def forward(self, x):
            return (x @ self.w + self.b) * (x @ self.w + self.b)

    class SoftmaxBlock(nn.Module):
        def forward(self, x):
            shifted = x - x.max(dim=-1, keepdim=True).values
            e = torch.exp(shifted)
            return e / e.sum(dim=-1, keepdim=True)

    class LayerNormBlock(nn.Module):
        def forward(self, x):
            mean = x.mean(dim=-1, keepdim=True)
            centered = x - mean
            var = (centered * centered).mean(dim=-1, keepdim=True)
            return centered / torch.sqrt(var + 1e-5)

    class Residual(nn.Module):
        def forward(self, x):
            return x + torch.tanh(x * 0.5) + torch.tanh(x * 0.5)

    class DuplicateOutputs(nn.Module):
        def forward(self, x, y):
            a = x * y + 1.0
            b = x * y + 1.0
            return a, b

    class NegNeg(nn.Module):
        def forward(self, x):
            return -(-x) + torch.abs(-(-x))

    class CatSlice(nn.Module):
        def forward(self, x, y):
            both = torch.cat([x, y], dim=0)
            return both[0:4] * 2.0

    class UnsqueezeSqueeze(nn.Module):
        def forward(self, x):
            return x.unsqueeze(0).squeeze(0) + x.unsqueeze(1).squeeze(1)

    class ClampChain(nn.Module):
        def forward(self, x):
            return torch.clamp(torch.clamp(x, -1.0, 1.0), -2.0, 2.0) + torch.clamp(x, -1.0, 1.0)

    class NormalizeAffine(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mean", torch.randn(4))
            self.register_buffer("var", torch.rand(4) + 0.5)
            self.gamma = nn.Parameter(torch.randn(4))
            self.beta = nn.Parameter(torch.randn(4))

        def forward(self, x):
            return (x - self.mean) / torch.sqrt(self.var + 1e-5) * self.gamma + self.beta

    class TinyAttention(nn.Module):
        def forward(self, q, k):
            scores = q @ k.t() * 0.5
            weights = torch.softmax(scores, dim=-1)
            return weights @ k

    class GeluLike(nn.Module):
        def forward(self, x):
            inner = x + 0.044715 * x * x * x
            return 0.5 * x * (1.0 + torch.tanh(0.7978845608 * inner))

    class SubSelfPlusX(nn.Module):
        def forward(self, x, y):
            s = x + y
            t = x + y
            return s * t - s

    class PermuteRoundTrip(nn.Module):
        def forward(self, x):
            return x.permute(1, 0, 2).permute(1, 0, 2) * 2.0

    class RepeatedReduction(nn.Module):
        def forward(self, x):
            return x.sum(dim=1) + x.sum(dim=1) * 0.5

    class ViewChain(nn.Module):
        def forward(self, x):
            return x.view(2, 8).view(4, 4).view(16) + 1.0

    class RepeatedSlice(nn.Module):
        def forward(self, x):
            return x[:, 1:3] + x[:, 1:3] * x[:, 1:3]

    r = torch.randn
    return [
        ("mul_one_add_zero", "relu(x * 1 + 0) * 1: float identities and a constant repeated per use.",
         MulOneAddZero(), (r(4, 8),)),
        ("duplicate_linear", "The same linear + relu is computed twice on the same input.",
         DuplicateLinear(), (r(2, 8),)),
        ("unused_branch", "tanh(x) * y is computed and never used.", UnusedBranch(), (r(4, 4), r(4, 4))),
        ("transpose_twice", "x.t().t() + 1: two transposes that cancel.", TransposeTwice(), (r(3, 5),)),
        ("reshape_round_trip", "Reshape 16 -> 4x4 -> 16, then scale.", ReshapeRoundTrip(), (r(16),)),
        ("constant_subgraph", "ones(4) * 3 + 2 is a constant; add it to x.", ConstantSubgraph(), (r(4),)),
        ("elementwise_chain", "A chain of elementwise ops ending in sigmoid.", ElementwiseChain(), (r(2, 6),)),
        ("mlp_duplicate_activation", "A two-layer MLP whose second layer is evaluated twice.",
         MlpDuplicateActivation(), (r(2, 6),)),
        ("conv_bias", "A 3x3 conv with bias; relu(y) is computed twice.", ConvBias(), (r(1, 2, 6, 6),)),
        ("matmul_bias", "(x @ w + b) squared, written as two identical products.", MatmulBias(), (r(2, 8),)),
        ("softmax_block", "Softmax written out: subtract the max, exp, normalize.", SoftmaxBlock(), (r(2, 8),)),
        ("layernorm_block", "Layer normalization without affine parameters.", LayerNormBlock(), (r(2, 8),)),
        ("residual", "x + tanh(x/2) + tanh(x/2): a duplicated residual branch.", Residual(), (r(4, 4),)),
        ("duplicate_outputs", "Two outputs computed by identical expressions.", DuplicateOutputs(),
         (r(3, 3), r(3, 3))),
        ("neg_neg", "-(-x) appears twice.", NegNeg(), (r(8),)),
        ("cat_slice", "Concatenate x and y, slice x back out.", CatSlice(), (r(4, 3), r(4, 3))),
        ("unsqueeze_squeeze", "unsqueeze/squeeze pairs that cancel.", UnsqueezeSqueeze(), (r(4, 4),)),
        ("clamp_chain", "Nested clamps and a repeated clamp.", ClampChain(), (r(8),)),
        ("normalize_affine", "Batch-norm-like affine normalization with constant statistics.",
         NormalizeAffine(), (r(2, 4),)),
        ("tiny_attention", "softmax(q k^T / 2) k on 4x8 tensors.", TinyAttention(), (r(4, 8), r(4, 8))),
        ("gelu_like", "tanh-approximated GELU written out elementwise.", GeluLike(), (r(2, 4),)),
        ("repeated_sum", "x + y computed twice, then s * t - s.", SubSelfPlusX(), (r(4, 4), r(4, 4))),
        ("permute_round_trip", "Two permutes that cancel, then a scale.", PermuteRoundTrip(), (r(2, 3, 4),)),
        ("repeated_reduction", "The same row sum computed twice.", RepeatedReduction(), (r(3, 5),)),
        ("view_chain", "view 16 -> 2x8 -> 4x4 -> 16.", ViewChain(), (r(16),)),
        ("repeated_slice", "The same slice taken three times.", RepeatedSlice(), (r(4, 5),)),
    ]


def torch_candidates() -> list[Candidate]:
    import torch

    candidates = []
    torch.manual_seed(SEED)  # parameters and example inputs are drawn in a fixed order
    for name, description, module, args in _torch_modules():
        raw = export_torch(module, args)
        candidates.append(Candidate(
            f"torch_{name}", "torch-export",
            description + " (torch dialect, as exported by iree-turbine)", wrap_torch_boundary(raw)))
        lowered, method = lower_to_linalg(raw)
        # Some conversions leave torch list constants that only canonicalization removes.
        how = ("lowered to linalg/tensor/arith by torch-mlir's backend pipeline" if method == BACKEND_PIPELINE
               else "lowered to linalg/tensor/arith without cleanup")
        candidates.append(Candidate(f"linalg_{name}", "linalg-export", f"{description} ({how})", lowered))
    return candidates


# --- hand-written modules -----------------------------------------------------------------------------

IREE_INPUTS = [
    ("iree_inline_then_cse",
     "A private helper called twice with the same argument: inline, then cse merges the copies, "
     "then symbol-dce drops the helper.",
     """
func.func private @square_plus(%a: tensor<8xf32>) -> tensor<8xf32> {
  %0 = arith.mulf %a, %a : tensor<8xf32>
  %1 = arith.addf %0, %a : tensor<8xf32>
  return %1 : tensor<8xf32>
}
func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {
  %0 = call @square_plus(%x) : (tensor<8xf32>) -> tensor<8xf32>
  %1 = call @square_plus(%x) : (tensor<8xf32>) -> tensor<8xf32>
  %2 = arith.subf %0, %1 : tensor<8xf32>
  %3 = arith.addf %2, %0 : tensor<8xf32>
  return %3 : tensor<8xf32>
}
"""),
    ("iree_fold_after_inline",
     "Constant arguments to a private helper fold only after inlining.",
     """
func.func private @scale(%a: i32, %k: i32, %b: i32) -> i32 {
  %0 = arith.muli %k, %b : i32
  %1 = arith.addi %0, %k : i32
  %2 = arith.muli %a, %1 : i32
  return %2 : i32
}
func.func @main(%x: i32, %y: i32) -> i32 {
  %c3 = arith.constant 3 : i32
  %c5 = arith.constant 5 : i32
  %c7 = arith.constant 7 : i32
  %0 = call @scale(%x, %c3, %c5) : (i32, i32, i32) -> i32
  %1 = call @scale(%y, %c7, %c3) : (i32, i32, i32) -> i32
  %2 = arith.addi %0, %1 : i32
  return %2 : i32
}
"""),
    ("iree_dead_private_functions",
     "A chain of private functions nothing public calls; one live helper.",
     """
func.func private @dead_a(%a: i32) -> i32 {
  %0 = call @dead_b(%a) : (i32) -> i32
  %1 = arith.muli %0, %0 : i32
  return %1 : i32
}
func.func private @dead_b(%a: i32) -> i32 {
  %c2 = arith.constant 2 : i32
  %0 = arith.shli %a, %c2 : i32
  return %0 : i32
}
func.func private @live(%a: i32, %b: i32) -> i32 {
  %0 = arith.xori %a, %b : i32
  return %0 : i32
}
func.func @main(%x: i32, %y: i32) -> i32 {
  %0 = call @live(%x, %y) : (i32, i32) -> i32
  %1 = arith.addi %0, %x : i32
  return %1 : i32
}
"""),
    ("iree_licm_then_cse",
     "A loop-invariant product inside scf.for equals one computed after the loop: only after "
     "hoisting can cse merge them.",
     """
func.func @main(%t: tensor<4xi32>, %init: tensor<4xi32>) -> (tensor<4xi32>, tensor<4xi32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  %r = scf.for %i = %c0 to %c8 step %c1 iter_args(%acc = %init) -> (tensor<4xi32>) {
    %sq = arith.muli %t, %t : tensor<4xi32>
    %k = arith.addi %sq, %t : tensor<4xi32>
    %next = arith.addi %acc, %k : tensor<4xi32>
    scf.yield %next : tensor<4xi32>
  }
  %sq2 = arith.muli %t, %t : tensor<4xi32>
  %k2 = arith.addi %sq2, %t : tensor<4xi32>
  return %r, %k2 : tensor<4xi32>, tensor<4xi32>
}
"""),
    ("iree_fuse_elementwise_chain",
     "Three elementwise linalg.generic ops in a chain: linalg-fuse-elementwise-ops makes one.",
     """
#map = affine_map<(d0, d1) -> (d0, d1)>
func.func @main(%x: tensor<4x8xf32>, %y: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %e0 = tensor.empty() : tensor<4x8xf32>
  %0 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%x, %y : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e0 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %s = arith.addf %a, %b : f32
    linalg.yield %s : f32
  } -> tensor<4x8xf32>
  %e1 = tensor.empty() : tensor<4x8xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%0 : tensor<4x8xf32>) outs(%e1 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %o: f32):
    %m = arith.mulf %a, %a : f32
    linalg.yield %m : f32
  } -> tensor<4x8xf32>
  %e2 = tensor.empty() : tensor<4x8xf32>
  %2 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel"]}
      ins(%1, %x : tensor<4x8xf32>, tensor<4x8xf32>) outs(%e2 : tensor<4x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %d = arith.subf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<4x8xf32>
  return %2 : tensor<4x8xf32>
}
"""),
    ("iree_constant_globals",
     "Immutable private util.globals with constant values: fold the globals, then the arithmetic.",
     """
util.global private @scale = 6 : i32
util.global private @offset = 4 : i32
util.global private @unused = 9 : i32
func.func @main(%x: i32) -> i32 {
  %s = util.global.load @scale : i32
  %o = util.global.load @offset : i32
  %s2 = util.global.load @scale : i32
  %0 = arith.muli %s, %o : i32
  %1 = arith.addi %x, %0 : i32
  %2 = arith.muli %1, %s2 : i32
  return %2 : i32
}
"""),
    ("iree_range_known_compare",
     "x mod 8 is always below 8 (unsigned): integer range analysis decides the compare and select.",
     """
func.func @main(%x: i32, %y: i32) -> i32 {
  %c8 = arith.constant 8 : i32
  %c100 = arith.constant 100 : i32
  %r = arith.remui %x, %c8 : i32
  %lt = arith.cmpi ult, %r, %c8 : i32
  %big = arith.muli %y, %c100 : i32
  %sel = arith.select %lt, %r, %big : i32
  %q = arith.addi %sel, %y : i32
  return %q : i32
}
"""),
    ("iree_ipo_util_func",
     "A private util.func always called with the same constant argument and an unused result.",
     """
util.func private @helper(%a: i32, %k: i32) -> (i32, i32) {
  %0 = arith.muli %a, %k : i32
  %1 = arith.addi %a, %k : i32
  %2 = arith.subi %1, %0 : i32
  util.return %0, %2 : i32, i32
}
func.func @main(%x: i32, %y: i32) -> i32 {
  %c3 = arith.constant 3 : i32
  %0:2 = util.call @helper(%x, %c3) : (i32, i32) -> (i32, i32)
  %1:2 = util.call @helper(%y, %c3) : (i32, i32) -> (i32, i32)
  %2 = arith.addi %0#0, %1#0 : i32
  return %2 : i32
}
"""),
    ("iree_unit_dims",
     "Elementwise linalg ops on tensors with unit dimensions, applied twice.",
     """
#map = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
func.func @main(%x: tensor<1x8x1xf32>) -> tensor<1x8x1xf32> {
  %e0 = tensor.empty() : tensor<1x8x1xf32>
  %0 = linalg.generic {indexing_maps = [#map, #map], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : tensor<1x8x1xf32>) outs(%e0 : tensor<1x8x1xf32>) {
  ^bb0(%a: f32, %o: f32):
    %n = arith.negf %a : f32
    linalg.yield %n : f32
  } -> tensor<1x8x1xf32>
  %e1 = tensor.empty() : tensor<1x8x1xf32>
  %1 = linalg.generic {indexing_maps = [#map, #map, #map], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%0, %x : tensor<1x8x1xf32>, tensor<1x8x1xf32>) outs(%e1 : tensor<1x8x1xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<1x8x1xf32>
  return %1 : tensor<1x8x1xf32>
}
"""),
]

# Traps: (name, description, module, the tempting wrong rewrite). Each module also holds something a
# correct pass removes (a duplicate or a dead value), so the limit is below the input's count.
TRAPS = [
    ("trap_float_mul_zero",
     "q * 0.0 is not 0.0 in floating point: here q is x / (x - x), infinite or NaN, so the product "
     "is NaN. Only the duplicated subtraction can go.",
     """
func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {
  %zero = arith.constant dense<0.0> : tensor<8xf32>
  %d = arith.subf %x, %x : tensor<8xf32>
  %d2 = arith.subf %x, %x : tensor<8xf32>
  %q = arith.divf %x, %d2 : tensor<8xf32>
  %p = arith.mulf %q, %zero : tensor<8xf32>
  %r = arith.addf %p, %d : tensor<8xf32>
  return %r : tensor<8xf32>
}
""",
     """
func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {
  %zero = arith.constant dense<0.0> : tensor<8xf32>
  return %zero : tensor<8xf32>
}
"""),
    ("trap_float_add_sub_large",
     "(x + 1e8) - 1e8 is not x in f32 (the sum rounds to a multiple of 8). The repeated constant "
     "and the dead product can go, the subtraction cannot.",
     """
func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {
  %big = arith.constant dense<1.0e8> : tensor<8xf32>
  %big2 = arith.constant dense<1.0e8> : tensor<8xf32>
  %dead = arith.mulf %x, %x : tensor<8xf32>
  %s = arith.addf %x, %big : tensor<8xf32>
  %r = arith.subf %s, %big2 : tensor<8xf32>
  return %r : tensor<8xf32>
}
""",
     """
func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {
  return %x : tensor<8xf32>
}
"""),
    ("trap_float_reassociate",
     "(x + 1e7*y) - 1e7*y is not x in f32. The duplicated scaling can be computed once; the "
     "subtraction must stay.",
     """
func.func @main(%x: tensor<8xf32>, %y: tensor<8xf32>) -> tensor<8xf32> {
  %k = arith.constant dense<1.0e7> : tensor<8xf32>
  %a = arith.mulf %y, %k : tensor<8xf32>
  %b = arith.mulf %y, %k : tensor<8xf32>
  %s = arith.addf %x, %a : tensor<8xf32>
  %r = arith.subf %s, %b : tensor<8xf32>
  return %r : tensor<8xf32>
}
""",
     """
func.func @main(%x: tensor<8xf32>, %y: tensor<8xf32>) -> tensor<8xf32> {
  return %x : tensor<8xf32>
}
"""),
    ("trap_i8_mul_div_overflow",
     "(x * 2) / 2 is not x for i8: the product wraps for |x| > 63. The duplicate product can go, "
     "the division cannot.",
     """
func.func @main(%x: tensor<64xi8>) -> (tensor<64xi8>, tensor<64xi8>) {
  %two = arith.constant dense<2> : tensor<64xi8>
  %m = arith.muli %x, %two : tensor<64xi8>
  %m2 = arith.muli %x, %two : tensor<64xi8>
  %d = arith.divsi %m, %two : tensor<64xi8>
  return %d, %m2 : tensor<64xi8>, tensor<64xi8>
}
""",
     """
func.func @main(%x: tensor<64xi8>) -> (tensor<64xi8>, tensor<64xi8>) {
  %two = arith.constant dense<2> : tensor<64xi8>
  %m = arith.muli %x, %two : tensor<64xi8>
  return %x, %m : tensor<64xi8>, tensor<64xi8>
}
"""),
    ("trap_divsi_is_not_shift",
     "x / 2 (signed) is not x >> 1: division rounds toward zero, the shift toward minus infinity. "
     "Only the dead and repeated values can go.",
     """
func.func @main(%x: tensor<16xi32>) -> tensor<16xi32> {
  %two = arith.constant dense<2> : tensor<16xi32>
  %one = arith.constant dense<1> : tensor<16xi32>
  %d = arith.divsi %x, %two : tensor<16xi32>
  %d2 = arith.divsi %x, %two : tensor<16xi32>
  %dead = arith.shli %x, %one : tensor<16xi32>
  %r = arith.addi %d, %d2 : tensor<16xi32>
  return %r : tensor<16xi32>
}
""",
     """
func.func @main(%x: tensor<16xi32>) -> tensor<16xi32> {
  %one = arith.constant dense<1> : tensor<16xi32>
  %d = arith.shrsi %x, %one : tensor<16xi32>
  %r = arith.addi %d, %d : tensor<16xi32>
  return %r : tensor<16xi32>
}
"""),
    ("trap_unsigned_compare",
     "cmpi ult x, 10 is not cmpi slt x, 10: negative x are huge unsigned numbers. The repeated "
     "compare can go.",
     """
func.func @main(%x: i32, %y: i32) -> (i32, i32) {
  %c10 = arith.constant 10 : i32
  %lt = arith.cmpi ult, %x, %c10 : i32
  %lt2 = arith.cmpi ult, %x, %c10 : i32
  %a = arith.select %lt, %x, %y : i32
  %b = arith.select %lt2, %y, %x : i32
  return %a, %b : i32, i32
}
""",
     """
func.func @main(%x: i32, %y: i32) -> (i32, i32) {
  %c10 = arith.constant 10 : i32
  %lt = arith.cmpi slt, %x, %c10 : i32
  %a = arith.select %lt, %x, %y : i32
  %b = arith.select %lt, %y, %x : i32
  return %a, %b : i32, i32
}
"""),
    ("trap_select_runtime_condition",
     "select(x > y, x, y) depends on the runtime condition: it is neither operand. Its duplicate "
     "and the dead sum can go.",
     """
func.func @main(%x: tensor<16xi32>, %y: tensor<16xi32>) -> tensor<16xi32> {
  %c = arith.cmpi sgt, %x, %y : tensor<16xi32>
  %s = arith.select %c, %x, %y : tensor<16xi1>, tensor<16xi32>
  %s2 = arith.select %c, %x, %y : tensor<16xi1>, tensor<16xi32>
  %dead = arith.addi %x, %y : tensor<16xi32>
  %r = arith.muli %s, %s2 : tensor<16xi32>
  return %r : tensor<16xi32>
}
""",
     """
func.func @main(%x: tensor<16xi32>, %y: tensor<16xi32>) -> tensor<16xi32> {
  %r = arith.muli %x, %x : tensor<16xi32>
  return %r : tensor<16xi32>
}
"""),
    ("trap_trunc_ext_roundtrip",
     "extsi(trunci x to i8) is not x: values outside [-128, 127] change. The repeated truncation "
     "can go.",
     """
func.func @main(%x: tensor<16xi32>) -> tensor<16xi32> {
  %t = arith.trunci %x : tensor<16xi32> to tensor<16xi8>
  %t2 = arith.trunci %x : tensor<16xi32> to tensor<16xi8>
  %e = arith.extsi %t : tensor<16xi8> to tensor<16xi32>
  %e2 = arith.extsi %t2 : tensor<16xi8> to tensor<16xi32>
  %r = arith.addi %e, %e2 : tensor<16xi32>
  return %r : tensor<16xi32>
}
""",
     """
func.func @main(%x: tensor<16xi32>) -> tensor<16xi32> {
  %r = arith.addi %x, %x : tensor<16xi32>
  return %r : tensor<16xi32>
}
"""),
    ("trap_fptosi_roundtrip",
     "sitofp(fptosi x) is not x: the fraction is lost. The duplicate conversion and the dead "
     "negation can go.",
     """
func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {
  %i = arith.fptosi %x : tensor<8xf32> to tensor<8xi32>
  %i2 = arith.fptosi %x : tensor<8xf32> to tensor<8xi32>
  %n = arith.negf %x : tensor<8xf32>
  %f = arith.sitofp %i : tensor<8xi32> to tensor<8xf32>
  %f2 = arith.sitofp %i2 : tensor<8xi32> to tensor<8xf32>
  %r = arith.mulf %f, %f2 : tensor<8xf32>
  return %r : tensor<8xf32>
}
""",
     """
func.func @main(%x: tensor<8xf32>) -> tensor<8xf32> {
  %r = arith.mulf %x, %x : tensor<8xf32>
  return %r : tensor<8xf32>
}
"""),
    ("trap_signed_remainder",
     "x rem 2 (signed) is -1 for negative odd x, so (x rem 2) == 1 is not 'x is odd'; nor is the "
     "rem x & 1. Only the duplicate can go.",
     """
func.func @main(%x: tensor<16xi32>) -> tensor<16xi32> {
  %two = arith.constant dense<2> : tensor<16xi32>
  %r = arith.remsi %x, %two : tensor<16xi32>
  %r2 = arith.remsi %x, %two : tensor<16xi32>
  %s = arith.muli %r, %r2 : tensor<16xi32>
  %t = arith.addi %s, %r : tensor<16xi32>
  return %t : tensor<16xi32>
}
""",
     """
func.func @main(%x: tensor<16xi32>) -> tensor<16xi32> {
  %one = arith.constant dense<1> : tensor<16xi32>
  %r = arith.andi %x, %one : tensor<16xi32>
  %s = arith.muli %r, %r : tensor<16xi32>
  %t = arith.addi %s, %r : tensor<16xi32>
  return %t : tensor<16xi32>
}
"""),
]


def handwritten_candidates() -> list[Candidate]:
    found = [Candidate(name, "iree-input", description, text) for name, description, text in IREE_INPUTS]
    found += [Candidate(name, "trap", description, text, wrong) for name, description, text, wrong in TRAPS]
    return found


# --- measuring ------------------------------------------------------------------------------------------


def _public_functions(module) -> list[str]:
    names = []
    for function in ir.functions(module):
        if ir.is_declaration(function):
            continue
        visibility = function.attributes["sym_visibility"] if "sym_visibility" in function.attributes else None
        if visibility is None or str(visibility) == '"public"':
            names.append(ir.symbol_name(function))
    return names


def _max_function_ops(module) -> int:
    return max(ir.count_ops(function) for function in ir.functions(module))


def search_pipelines(module) -> list[tuple[int, tuple[str, ...]]]:
    """Pipelines over the allow-list, best first: (operation count, pipeline), one per distinct output."""
    allowed = schedule.allowed_passes()
    names = list(schedule.ALLOWED_PASSES)
    order = {name: index for index, name in enumerate(names)}
    start = ir.count_ops(module)
    seen: dict[str, tuple[int, tuple[str, ...]]] = {ir.print_ir(module, generic=True): (start, ())}
    beam = [((), module)]
    for _ in range(MAX_DEPTH):
        found = []
        for pipeline, current in beam:
            for name in names:
                result = schedule.apply_pipeline(current, [name], allowed)
                if result.module is None:
                    continue
                key = ir.print_ir(result.module, generic=True)
                candidate = pipeline + (name,)
                if key in seen:
                    continue
                seen[key] = (result.ops_after, candidate)
                found.append((result.ops_after, len(candidate), [order[n] for n in candidate], candidate,
                              result.module))
        if not found:
            break
        found.sort(key=lambda item: item[:3])
        beam = [(item[3], item[4]) for item in found[:BEAM_WIDTH]]
    ranked = sorted(seen.values(), key=lambda item: (item[0], len(item[1]), [order[n] for n in item[1]]))
    return [item for item in ranked if item[1]]


def prune(module, pipeline: tuple[str, ...], target: int) -> tuple[str, ...]:
    """Drops passes that do not change the final operation count, one at a time from the front."""
    allowed = schedule.allowed_passes()
    index = 0
    while index < len(pipeline) and len(pipeline) > 1:
        shorter = pipeline[:index] + pipeline[index + 1:]
        result = schedule.apply_pipeline(module, shorter, allowed)
        if result.module is not None and result.ops_after <= target:
            pipeline = shorter
        else:
            index += 1
    return pipeline


def compiles(text: str) -> str | None:
    """None when iree-compile (llvm-cpu) compiles the module, else the error's tail."""
    with tempfile.TemporaryDirectory(prefix="passlib-hard-") as directory:
        source = pathlib.Path(directory) / "input.mlir"
        source.write_text(text)
        completed = subprocess.run(
            [binaries.find_tool("iree-compile"), str(source), *equivalence.EquivalenceOptions().compile_flags,
             "-o", str(pathlib.Path(directory) / "out.vmfb")],
            capture_output=True, text=True, timeout=300, check=False)
    return None if completed.returncode == 0 else completed.stderr[-1500:]


def equivalent(checker, original, candidate) -> str | None:
    """None when every public function gives the same results; else why not."""
    for name in _public_functions(original):
        verdict = checker.check(original, candidate, name)
        if verdict.status != equivalence.EQUIVALENT:
            return f"@{name}: {verdict.status}: {verdict.detail}"
    return None


def build_task(candidate: Candidate, checker, log) -> tuple[dict, str, str | None] | None:
    """The task entry, the input text and (traps) the reference text; None when the candidate is dropped."""
    context = ir.new_context()
    try:
        module = ir.parse_module(candidate.text, context, candidate.name)
    except ir.IrError as error:
        log(f"drop {candidate.name}: {error}")
        return None
    if ir.verify(module):
        log(f"drop {candidate.name}: does not verify")
        return None
    text = ir.print_ir(module)
    if _max_function_ops(module) > MAX_FUNCTION_OPS:
        log(f"drop {candidate.name}: a function has over {MAX_FUNCTION_OPS} operations")
        return None
    ops_before = ir.count_ops(module)
    ranked = search_pipelines(module)
    if not ranked or ranked[0][0] >= ops_before:
        log(f"drop {candidate.name}: no allowed pipeline removes an operation ({ops_before} ops)")
        return None
    error = compiles(text)
    if error is not None:
        log(f"drop {candidate.name}: iree-compile fails: {error}")
        return None
    allowed = schedule.allowed_passes()
    chosen = None
    for ops_after, pipeline in ranked[:3]:  # the best output that is also equivalent
        if ops_after >= ops_before:
            break
        pipeline = prune(module, pipeline, ops_after)
        result = schedule.apply_pipeline(module, pipeline, allowed)
        assert result.module is not None and result.ops_after == ops_after, (candidate.name, pipeline)
        problem = equivalent(checker, module, result.module)
        if problem is None:
            chosen = (ops_after, pipeline, result.module)
            break
        log(f"{candidate.name}: pipeline {list(pipeline)} is not equivalent: {problem}")
    if chosen is None:
        log(f"drop {candidate.name}: no equivalent pipeline output")
        return None
    ops_after, pipeline, output = chosen
    task = {
        "name": candidate.name,
        "kind": candidate.kind,
        "mode": "schedule",
        "description": f"{candidate.description} Best allowed pipeline: {ops_before} -> {ops_after} operations.",
        "input": f"inputs/{candidate.name}.mlir",
        "reference_pipeline": list(pipeline),
        "improvement": {"max_ops": ops_after},
    }
    reference = None
    if candidate.kind == "trap":
        wrong = ir.parse_module(candidate.wrong, context, candidate.name + "_wrong")
        problem = equivalent(checker, module, wrong)
        if problem is None:
            log(f"drop {candidate.name}: the wrong rewrite is not told apart by the equivalence check")
            return None
        log(f"{candidate.name}: the wrong rewrite ({ir.count_ops(wrong)} ops) is caught: {problem[:100]}")
        task.update(mode="rewrite", task="simplify", reference=f"references/{candidate.name}.mlir")
        reference = ir.print_body(output)
    log(f"keep {candidate.name}: {ops_before} -> {ops_after} with {list(pipeline)}")
    return task, text, reference


# --- writing --------------------------------------------------------------------------------------------


def _write(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def assign_splits_and_order(tasks: list[dict]) -> list[dict]:
    """Split per kind in name order (every TUNE_EVERY-th is tune), then round-robin by kind."""
    by_kind: dict[str, list[dict]] = collections.defaultdict(list)
    for task in sorted(tasks, key=lambda t: t["name"]):
        by_kind[task["kind"]].append(task)
    for group in by_kind.values():
        for index, task in enumerate(group):
            task["split"] = "tune" if index % TUNE_EVERY == 0 else "eval"
    ordered = []
    queues = [collections.deque(by_kind[kind]) for kind in KIND_ORDER if by_kind.get(kind)]
    while queues:
        for queue in queues:
            ordered.append(queue.popleft())
        queues = [queue for queue in queues if queue]
    return ordered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=pathlib.Path, default=HERE, help="the task set directory")
    parser.add_argument("--quiet", action="store_true")
    arguments = parser.parse_args(argv)
    started = time.monotonic()

    def log(message: str) -> None:
        if not arguments.quiet:
            print(f"[{time.monotonic() - started:6.1f}s] {message}", flush=True)

    candidates = handwritten_candidates() + torch_candidates()
    log(f"{len(candidates)} candidates")
    checker = equivalence.EquivalenceChecker()
    built = []
    for candidate in candidates:
        entry = build_task(candidate, checker, log)
        if entry is not None:
            built.append(entry)
    files = {}
    for task, text, reference in built:
        files[task["input"]] = text
        if reference is not None:
            files[task["reference"]] = reference
    tasks = assign_splits_and_order([task for task, _, _ in built])
    out = arguments.out
    for sub in ("inputs", "references"):
        folder = out / sub
        if folder.is_dir():
            for stale in folder.glob("*.mlir"):
                if f"{sub}/{stale.name}" not in files:
                    stale.unlink()
    for relative, text in sorted(files.items()):
        _write(out / relative, text)
    _write(out / "tasks.json", json.dumps({"format": 1, "tasks": tasks}, indent=2) + "\n")
    counts = collections.Counter((task["kind"], task["split"]) for task in tasks)
    log(f"wrote {len(tasks)} tasks: " + ", ".join(f"{k}/{s}={n}" for (k, s), n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
