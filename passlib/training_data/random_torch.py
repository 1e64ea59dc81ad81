"""Randomly configured small torch modules exported with iree-turbine, as training-data candidates.

`generate(seed, count)` draws `count` module configurations. Each is a random sequence of layers
from a fixed vocabulary (Linear with or without bias, ReLU/GELU/SiLU/tanh, LayerNorm, softmax,
residual adds, matmuls with constant weights, concat then slice, mean/sum reductions) over random
small static shapes (batch 1-4, features 4-32), with one or two inputs and one or two outputs.
Redundancy that canonicalize, cse and the like can remove is injected at random between the
layers (x * 1, x + 0, duplicated subexpressions, transposes and reshapes that cancel, constant
subgraphs), at least once per module.

Each configuration is exported with iree-turbine (passlib.torch_lowering) and gives up to two
candidates:
  torch-NNNN         kind "torch-export": the torch dialect export, its public boundary converted to
                     builtin tensors (torch_c casts inside);
  torch-NNNN-linalg  kind "linalg-export": the export lowered to linalg/tensor/arith by torch-mlir's
                     conversions without canonicalize or cse (dead torch list constants erased when
                     needed), so the redundancy survives.
A candidate is dropped when it does not parse and verify, when a public function takes or returns
anything but builtin static tensors of f32 or integers, when a function has more than
MAX_FUNCTION_OPS operations, or (linalg) when only torch-mlir's cleaning backend pipeline lowers it.
Texts are printed by passlib.ir without locations; weights stay as dense_resource blobs.

Deterministic: configuration i is drawn from its own seed (taken in order from random.Random(seed)),
and its weights and example inputs from a torch.Generator seeded with it, so the same seed gives the
same texts, and a larger `count` extends the list without changing the first candidates.
"""

from __future__ import annotations

import dataclasses
import random
import re

from passlib import ir, torch_lowering
from passlib.training_data.candidate import Candidate

TORCH_KIND = "torch-export"
LINALG_KIND = "linalg-export"
MAX_FUNCTION_OPS = 150
BATCH_RANGE = (1, 4)
FEATURE_RANGE = (4, 32)
MAX_LAYERS = 4
REDUNDANCY_PROBABILITY = 0.5

ACTIVATIONS = ("relu", "gelu", "silu", "tanh")
LAYERS = ("linear", "activation", "layernorm", "softmax", "residual", "const_matmul", "concat_slice",
          "reduction")
REDUNDANCIES = ("identity_arith", "duplicate", "transpose_pair", "reshape_pair", "constant_subgraph")
_BOUNDARY_TYPE = re.compile(r"(tensor<(\d+x)*(f32|i\d+)>|f32|i\d+)")


@dataclasses.dataclass(frozen=True)
class Step:
    """One layer of a configuration: its vocabulary entry, a variant and the sizes it needs."""

    op: str
    variant: str = ""
    features_in: int = 0
    features_out: int = 0
    constants: tuple[float, ...] = ()
    activation: str = ""  # concat_slice: what is concatenated to x


@dataclasses.dataclass(frozen=True)
class Config:
    """A random module: batch size, input features, how inputs combine, the steps, the outputs."""

    seed: int
    batch: int
    features: int
    inputs: str  # "one", "add" or "mul" (two inputs combined first)
    steps: tuple[Step, ...]
    outputs: str  # "one", "sum" (reduced over the features), "two", "duplicate" (two equal)


def _constant(rng: random.Random) -> float:
    value = round(rng.uniform(-2.0, 2.0), 2)
    return value if value not in (0.0, 1.0, -1.0) else 1.5


def _layer(rng: random.Random, features: int) -> Step:
    op = rng.choice(LAYERS)
    if op in ("linear", "const_matmul"):
        out = rng.randint(*FEATURE_RANGE)
        variant = rng.choice(("bias", "no_bias")) if op == "linear" else rng.choice(("plain", "scaled"))
        return Step(op, variant, features, out, (_constant(rng),))
    if op == "activation":
        return Step(op, rng.choice(ACTIVATIONS), features, features)
    if op == "layernorm":
        return Step(op, rng.choice(("affine", "plain")), features, features)
    if op == "residual":
        return Step(op, rng.choice(ACTIVATIONS + ("linear",)), features, features)
    if op == "concat_slice":
        # Concatenate x with act(x) along the features and keep both (when small enough), or slice
        # the halves back out and combine them; or along the batch and slice the rows back.
        variants = ["split_add", "split_mul", "rows"] + (["keep"] if 2 * features <= FEATURE_RANGE[1] else [])
        variant = rng.choice(variants)
        return Step(op, variant, features, 2 * features if variant == "keep" else features,
                    activation=rng.choice(ACTIVATIONS))
    if op == "reduction":
        return Step(op, rng.choice(("center", "sum_scale", "batch_mean", "rms")), features, features)
    return Step("softmax", "", features, features)


def _redundancy(rng: random.Random, features: int) -> Step:
    op = rng.choice(REDUNDANCIES)
    variants = {
        "identity_arith": ("mul_one", "add_zero", "sub_zero", "div_one", "mul_one_add_zero"),
        "duplicate": ("activation_add", "activation_mul", "scale_add", "linear_add"),
        "transpose_pair": ("t", "transpose", "permute"),
        "reshape_pair": ("flatten", "swap", "unsqueeze", "view"),
        "constant_subgraph": ("ones_affine", "full_exp", "weight_scale"),
    }[op]
    return Step(op, rng.choice(variants), features, features, (_constant(rng), _constant(rng)))


def random_config(config_seed: int) -> Config:
    """The configuration drawn from `config_seed`."""
    rng = random.Random(config_seed)
    batch = rng.randint(*BATCH_RANGE)
    features = rng.randint(*FEATURE_RANGE)
    inputs = rng.choice(("one", "one", "add", "mul"))
    steps: list[Step] = []
    current = features
    for _ in range(rng.randint(1, MAX_LAYERS)):
        if rng.random() < REDUNDANCY_PROBABILITY:
            steps.append(_redundancy(rng, current))
        layer = _layer(rng, current)
        steps.append(layer)
        current = layer.features_out
    if not any(step.op in REDUNDANCIES for step in steps):
        position = rng.randint(0, len(steps))
        width = steps[position].features_in if position < len(steps) else current
        steps.insert(position, _redundancy(rng, width))
    outputs = rng.choice(("one", "one", "sum", "two", "duplicate"))
    return Config(config_seed, batch, features, inputs, tuple(steps), outputs)


def _build_module(config: Config):
    """The torch module of a configuration and its example inputs (weights from a seeded generator)."""
    import torch
    import torch.nn.functional as functional
    from torch import nn

    generator = torch.Generator().manual_seed(config.seed)

    def random_tensor(*shape):
        return torch.randn(*shape, generator=generator) * 0.5

    activations = {"relu": torch.relu, "gelu": functional.gelu, "silu": functional.silu, "tanh": torch.tanh}

    class RandomNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.weights = nn.ParameterList()
            self.slots: list[list[int]] = []  # per step: indices into self.weights
            for step in config.steps:
                shapes = {
                    "linear": [(step.features_out, step.features_in)]
                              + ([(step.features_out,)] if step.variant == "bias" else []),
                    "const_matmul": [(step.features_in, step.features_out)],
                    "layernorm": [(step.features_in,), (step.features_in,)] if step.variant == "affine" else [],
                    "residual": [(step.features_in, step.features_in)] if step.variant == "linear" else [],
                    "duplicate": [(step.features_in, step.features_in)] if step.variant == "linear_add" else [],
                    "constant_subgraph": [(step.features_in,)] if step.variant == "weight_scale" else [],
                }.get(step.op, [])
                slot = []
                for shape in shapes:
                    slot.append(len(self.weights))
                    self.weights.append(nn.Parameter(random_tensor(*shape), requires_grad=False))
                self.slots.append(slot)

        def forward(self, *inputs):
            x = inputs[0]
            if config.inputs == "add":
                x = x + inputs[1]
            elif config.inputs == "mul":
                x = x * inputs[1]
            for step, slot in zip(config.steps, self.slots):
                x = self._apply(step, [self.weights[i] for i in slot], x)
            if config.outputs == "sum":
                return x.sum(dim=-1)
            if config.outputs == "two":
                return x, torch.tanh(x)
            if config.outputs == "duplicate":
                return x * 2.0, x * 2.0
            return x

        def _apply(self, step: Step, weights, x):
            op, variant, constants = step.op, step.variant, step.constants
            if op == "linear":
                return functional.linear(x, weights[0], weights[1] if len(weights) > 1 else None)
            if op == "const_matmul":
                weight = weights[0] * constants[0] if variant == "scaled" else weights[0]
                return x @ weight
            if op == "activation":
                return activations[variant](x)
            if op == "layernorm":
                return functional.layer_norm(x, (step.features_in,), *(weights or [None, None]))
            if op == "softmax":
                return torch.softmax(x, dim=-1)
            if op == "residual":
                return x + (functional.linear(x, weights[0]) if variant == "linear" else activations[variant](x))
            if op == "concat_slice":
                act = activations[step.activation]
                if variant == "rows":
                    both = torch.cat([x, act(x)], dim=0)
                    return both[: x.shape[0]] * both[x.shape[0]:]
                both = torch.cat([x, act(x)], dim=-1)
                if variant == "keep":
                    return both
                first, second = both[:, : step.features_in], both[:, step.features_in:]
                return first + second if variant == "split_add" else first * second
            if op == "reduction":
                if variant == "center":
                    return x - x.mean(dim=-1, keepdim=True)
                if variant == "sum_scale":
                    return x * x.sum(dim=-1, keepdim=True)
                if variant == "batch_mean":
                    return x + x.mean(dim=0, keepdim=True)
                return x * torch.rsqrt((x * x).mean(dim=-1, keepdim=True) + 1e-5)
            a, b = constants
            if op == "identity_arith":
                return {"mul_one": lambda: x * 1.0, "add_zero": lambda: x + 0.0, "sub_zero": lambda: x - 0.0,
                        "div_one": lambda: x / 1.0, "mul_one_add_zero": lambda: x * 1.0 + 0.0}[variant]()
            if op == "duplicate":
                if variant == "activation_add":
                    return torch.tanh(x) + torch.tanh(x)
                if variant == "activation_mul":
                    return torch.relu(x) * torch.relu(x)
                if variant == "scale_add":
                    return x * a + x * a
                return functional.linear(x, weights[0]) + functional.linear(x, weights[0])
            if op == "transpose_pair":
                if variant == "t":
                    return x.t().t()
                if variant == "transpose":
                    return x.transpose(0, 1).transpose(0, 1)
                return x.permute(1, 0).permute(1, 0)
            if op == "reshape_pair":
                rows, columns = x.shape
                if variant == "flatten":
                    return x.reshape(-1).reshape(rows, columns)
                if variant == "swap":
                    return x.reshape(columns, rows).reshape(rows, columns)
                if variant == "unsqueeze":
                    return x.unsqueeze(0).squeeze(0)
                return x.view(rows * columns).view(rows, columns)
            # constant_subgraph
            if variant == "ones_affine":
                return x + (torch.ones(step.features_in) * a + b)
            if variant == "full_exp":
                return x * torch.exp(torch.full((step.features_in,), a) * 0.5)
            return x + weights[0] * a + b

    module = RandomNet()
    count = 1 if config.inputs == "one" else 2
    args = tuple(random_tensor(config.batch, config.features) for _ in range(count))
    return module, args


def _checked(text: str, name: str) -> str | None:
    """The module printed without locations, or None when it must be dropped (see the docstring)."""
    try:
        module = ir.parse_module(text, ir.new_context(), name)
    except ir.IrError:
        return None
    functions = [function for function in ir.functions(module) if not ir.is_declaration(function)]
    if not functions or max(ir.count_ops(function) for function in functions) > MAX_FUNCTION_OPS:
        return None
    for function in functions:
        visibility = function.attributes["sym_visibility"] if "sym_visibility" in function.attributes else None
        if visibility is not None and str(visibility) != '"public"':
            continue
        signature = ir.signature(function)
        if not all(_BOUNDARY_TYPE.fullmatch(t) for t in signature.inputs + signature.results):
            return None
    return ir.print_ir(module)


def candidates_for(config: Config, index: int) -> list[Candidate]:
    """The torch-level and linalg-level candidates of one configuration (either may be dropped)."""
    module, args = _build_module(config)
    raw = torch_lowering.export_torch(module, args)
    name = f"torch-{index:04d}"
    found = []
    torch_text = _checked(torch_lowering.wrap_torch_boundary(raw), name)
    if torch_text is not None:
        found.append(Candidate(name, TORCH_KIND, torch_text))
    try:
        lowered, method = torch_lowering.lower_to_linalg(raw, erase_dead_torch_ops_first=True)
    except RuntimeError:
        return found
    if method != torch_lowering.BACKEND_PIPELINE:  # that one canonicalizes: no redundancy is left
        linalg_text = _checked(lowered, f"{name}-linalg")
        if linalg_text is not None:
            found.append(Candidate(f"{name}-linalg", LINALG_KIND, linalg_text))
    return found


def generate(seed: int, count: int) -> list[Candidate]:
    """Candidates of `count` random configurations: up to two per configuration, in order."""
    rng = random.Random(seed)
    config_seeds = [rng.getrandbits(63) for _ in range(count)]
    found: list[Candidate] = []
    for index, config_seed in enumerate(config_seeds):
        found += candidates_for(random_config(config_seed), index)
    return found
