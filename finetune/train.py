"""The training loop: AdamW on the adapters only, loss on the answer tokens, deterministic.

Determinism: one seed fixes the adapters' initial values (finetune.lora) and the order of the
examples (a seeded shuffle per epoch); torch runs with deterministic algorithms and a fixed thread
count, so the same inputs give the same weights, bit for bit, on the same machine. Progress (step,
loss, tokens/s, ETA) goes to `logging` every `log_every` steps; the loss of every step is returned.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import random
import time
from collections.abc import Sequence

import torch

from finetune import lora
from finetune.chat_examples import ChatExample

_log = logging.getLogger(__name__)
IGNORE_INDEX = -100


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """How to train (each one is an attribute of the llm_finetune rule)."""

    steps: int = 200
    learning_rate: float = 2e-4
    rank: int = 16
    alpha: float = 32.0
    batch_size: int = 1
    warmup_steps: int = 10
    weight_decay: float = 0.0
    seed: int = 0
    threads: int = 2
    log_every: int = 10

    def __post_init__(self) -> None:
        for name in ("steps", "rank", "batch_size", "threads", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")


@dataclasses.dataclass(frozen=True)
class StepRecord:
    step: int
    loss: float
    tokens: int
    seconds: float


def make_deterministic(options: TrainingOptions) -> None:
    """Seeds torch and fixes its threads and algorithms (call before the model is built)."""
    torch.manual_seed(options.seed)
    torch.set_num_threads(options.threads)
    torch.use_deterministic_algorithms(True)


def _batches(examples: Sequence[ChatExample], options: TrainingOptions):
    """Batches of examples for every step, reshuffled (seeded) each time the data runs out."""
    order_rng = random.Random(options.seed)
    order: list[int] = []
    for _ in range(options.steps):
        batch = []
        for _ in range(options.batch_size):
            if not order:
                order = list(range(len(examples)))
                order_rng.shuffle(order)
            batch.append(examples[order.pop()])
        yield batch


def _learning_rate(step: int, options: TrainingOptions) -> float:
    """Linear warm-up, then linear decay to a tenth of the rate at the last step."""
    if step < options.warmup_steps:
        return options.learning_rate * (step + 1) / options.warmup_steps
    remaining = max(options.steps - options.warmup_steps, 1)
    progress = (step - options.warmup_steps) / remaining
    return options.learning_rate * (1.0 - 0.9 * progress)


def _batch_tensors(batch: Sequence[ChatExample], pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    length = max(len(example.ids) for example in batch)
    ids = torch.full((len(batch), length), pad_id, dtype=torch.int64)
    labels = torch.full((len(batch), length), IGNORE_INDEX, dtype=torch.int64)
    mask = torch.zeros((len(batch), length), dtype=torch.int64)
    for row, example in enumerate(batch):
        sequence = torch.tensor(example.ids, dtype=torch.int64)
        ids[row, : len(sequence)] = sequence
        mask[row, : len(sequence)] = 1
        labels[row, example.answer_start : len(sequence)] = sequence[example.answer_start :]
    return ids, labels, mask


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    curve: list[StepRecord]
    merged_layers: list[str]  # qualified module names whose weights changed

    @property
    def changed_weights(self) -> set[str]:
        """The state-dict names of the changed weights."""
        return {f"{name}.weight" for name in self.merged_layers}


def answer_loss(model: torch.nn.Module, ids: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of the answer tokens. The output projection (49k rows for SmolLM2) runs only
    on the positions that predict an answer token, not on the whole prompt: most of a step's work
    saved for prompts ten times longer than their answers."""
    hidden = model.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
    targets = labels[:, 1:]
    predicting = targets != IGNORE_INDEX
    logits = model.get_output_embeddings()(hidden[:, :-1][predicting])
    return torch.nn.functional.cross_entropy(logits.float(), targets[predicting])


def train(model: torch.nn.Module, examples: Sequence[ChatExample], options: TrainingOptions,
          pad_id: int = 0) -> TrainingResult:
    """Adds adapters to `model`, trains them on `examples` and merges them into its weights."""
    if not examples:
        raise ValueError("no training examples: the data set is empty or nothing fits the sequence length")
    wrapped = lora.add_adapters(model, rank=options.rank, alpha=options.alpha, seed=options.seed)
    parameters = lora.adapter_parameters(model)
    _log.info("LoRA rank %d, alpha %g on %d layers: %d trainable parameters; %d examples, %d steps",
              options.rank, options.alpha, len(wrapped), sum(p.numel() for p in parameters),
              len(examples), options.steps)
    optimizer = torch.optim.AdamW(parameters, lr=options.learning_rate, weight_decay=options.weight_decay)
    model.train()
    curve: list[StepRecord] = []
    started = time.monotonic()
    window_tokens, window_started = 0, started
    for step, batch in enumerate(_batches(examples, options)):
        step_started = time.monotonic()
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, options)
        ids, labels, mask = _batch_tensors(batch, pad_id)
        loss = answer_loss(model, ids, labels, mask)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        tokens = int(mask.sum())
        curve.append(StepRecord(step + 1, float(loss.detach()), tokens, time.monotonic() - step_started))
        window_tokens += tokens
        if (step + 1) % options.log_every == 0 or step + 1 == options.steps:
            now = time.monotonic()
            recent = curve[-options.log_every:]
            eta = (now - started) / (step + 1) * (options.steps - step - 1)
            _log.info("step %d/%d  loss %.4f  %.0f tokens/s  ETA %.0f s", step + 1, options.steps,
                      sum(record.loss for record in recent) / len(recent),
                      window_tokens / max(now - window_started, 1e-9), eta)
            window_tokens, window_started = 0, now
    model.eval()
    return TrainingResult(curve, lora.merge_adapters(model))
