"""The training loop: the micro-batch plan, the loss, the learning-rate schedule and the steps.

Data path: `EncodedExample`s (token ids + loss mask, see `data.py`) -> length-grouped,
right-padded micro-batches -> loss on the masked tokens only, with logits computed only
at loss positions: the decoder runs on every token, but the frozen output head (28M of
SmolLM2's 135M parameters) only where a target is predicted, and padded positions never
reach it.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from honesty_evals.training.build import MasterWeights
from honesty_evals.training.checkpoint import adapter_weights, load_checkpoint, save_checkpoint
from honesty_evals.training.config import TrainConfig, TrainRun
from honesty_evals.training.data import EncodedExample
from honesty_evals.training.persona import persona_states

# examples sorted by length within groups of this many micro-batches (less padding, while
# the order across groups stays random)
LENGTH_GROUP_BATCHES = 16
# our schedule names (config.SCHEDULES) -> transformers' (`get_scheduler`); "constant" keeps
# the warm-up
TRANSFORMERS_SCHEDULES = {
    "cosine": "cosine",
    "linear": "linear",
    "constant": "constant_with_warmup",
}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def micro_batch_plan(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Example indices of each micro-batch of one epoch: a pure function of (seed, epoch).

    Shuffle, sort by length inside groups of LENGTH_GROUP_BATCHES batches, cut into batches,
    shuffle the batches. Being a function of (seed, epoch) alone is what lets a resumed run
    find its place from the step number.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths)).tolist()
    group = batch_size * LENGTH_GROUP_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), group):
        chunk = sorted(order[start : start + group], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches)).tolist()]


@dataclass(frozen=True)
class StepPlan:
    """The run's optimizer steps: how many in all, how many make an epoch, how many warm up."""

    total: int
    per_epoch: int
    warmup: int

    @classmethod
    def for_run(cls, n_examples: int, config: TrainConfig) -> StepPlan:
        micro_per_epoch = math.ceil(n_examples / config.batch_size)
        per_epoch = math.ceil(micro_per_epoch / config.grad_accum)
        total = config.steps or max(1, math.ceil(config.epochs * per_epoch))
        return cls(total=total, per_epoch=per_epoch, warmup=int(config.warmup_ratio * total))


def lr_scheduler(
    optimizer: torch.optim.Optimizer, schedule: str, warmup: int, total: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """transformers' `schedule` over `total` steps, after a linear warm-up of `warmup` steps.

    One exception to transformers' curves: they warm up as step / warmup, so the first step
    would run at a learning rate of 0. Ours runs step s at (s + 1) / warmup of the rate and
    reaches the full rate on the last warm-up step, as every organism trained so far did, so
    a warm-up step reads transformers' factor one step ahead. After the warm-up the factor is
    transformers' own (tests/training/test_trainer.py compares the curve with the original one).
    """
    from transformers import get_scheduler

    # only its factor is used: our scheduler below takes over the optimizer's learning rate
    transformers_factor = get_scheduler(
        TRANSFORMERS_SCHEDULES[schedule],
        optimizer,
        num_warmup_steps=warmup,
        num_training_steps=total,
    ).lr_lambdas[0]

    def factor(step: int) -> float:
        return transformers_factor(step + 1 if step < warmup else step)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _collate(
    examples: list[EncodedExample], pad_id: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    targets = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, e in enumerate(examples):
        n = len(e.input_ids)
        ids[row, :n] = torch.tensor(e.input_ids)
        attention[row, :n] = 1
        targets[row, 1:n] = torch.tensor(e.loss_mask[1:])
    return ids.to(device), attention.to(device), targets.to(device)


def _split_model(model: Any) -> tuple[Any, Any]:
    """(decoder returning hidden states, output head) of a causal LM (peft-wrapped or not)."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = inner.get_decoder() if hasattr(inner, "get_decoder") else None
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    if decoder is None or head is None or decoder is inner:
        return None, None
    return decoder, head


def float32_head_weight(model: Any) -> torch.Tensor | None:
    """A float32 copy of the frozen output head's weight, made once per run (None if split
    is impossible); micro_batch_loss would otherwise cast 28M weights every micro-batch."""
    _, head = _split_model(model)
    return None if head is None else head.weight.detach().float()


def target_logits(
    model: Any,
    examples: list[EncodedExample],
    pad_id: int,
    device: torch.device,
    head_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, target ids, row) at every loss position of a batch, row by row in order.

    `head_weight`: the output head's weight in float32 (see `float32_head_weight`). The
    training loss and the fit check (`fitcheck.py`) both read these. Examples with a
    `persona_start` run the LoRA only after their marker (`training.persona`).
    """
    ids, attention, targets = _collate(examples, pad_id, device)
    rows, cols = targets.nonzero(as_tuple=True)
    decoder, head = _split_model(model)
    starts = [e.persona_start for e in examples]
    persona = [s for s in starts if s is not None]
    if persona and len(persona) != len(starts):
        raise ValueError("a micro-batch mixes examples with and without a persona marker")
    if decoder is not None:
        hidden = (
            persona_states(model, decoder, ids, attention, persona)
            if persona
            else decoder(input_ids=ids, attention_mask=attention, use_cache=False)[0]
        )
        # the hidden state at t-1 predicts token t: apply the head at target positions only,
        # in float32 (bf16 logits of size ~20 carry errors of ~0.1); few rows, so it is cheap
        weight = head_weight if head_weight is not None else head.weight
        bias = head.bias.float() if getattr(head, "bias", None) is not None else None
        logits = torch.nn.functional.linear(hidden[rows, cols - 1].float(), weight.float(), bias)
    else:  # a model we cannot split: full logits, then select
        logits = (
            persona_states(model, model, ids, attention, persona)
            if persona
            else model(input_ids=ids, attention_mask=attention, use_cache=False).logits
        )
        logits = logits[rows, cols - 1]
    return logits, ids[rows, cols], rows


def micro_batch_loss(
    model: Any,
    examples: list[EncodedExample],
    pad_id: int,
    device: torch.device,
    head_weight: torch.Tensor | None = None,
) -> tuple[torch.Tensor, int]:
    """Summed cross-entropy over the loss tokens of a micro-batch, and their count.

    `head_weight`: the output head's weight in float32 (see `float32_head_weight`).
    """
    logits, target_ids, rows = target_logits(model, examples, pad_id, device, head_weight)
    loss = torch.nn.functional.cross_entropy(logits.float(), target_ids, reduction="sum")
    return loss, int(rows.numel())


@dataclass
class Learner:
    """The model being trained and what updates it: the float32 masters, AdamW, the schedule."""

    model: Any  # the peft model
    weights: MasterWeights
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    adapter: dict[str, torch.Tensor]  # the masters by peft's saved names: what checkpoints hold

    @classmethod
    def create(
        cls, model: Any, dtype: torch.dtype, config: TrainConfig, steps: StepPlan
    ) -> Learner:
        weights = MasterWeights(
            {n: p for n, p in model.named_parameters() if p.requires_grad},
            dtype if dtype == torch.bfloat16 else torch.float32,
        )
        # the masters are what the optimizer, clipping and checkpoints see
        optimizer = torch.optim.AdamW(
            list(weights.masters.values()), lr=config.lr, weight_decay=config.weight_decay
        )
        scheduler = lr_scheduler(optimizer, config.lr_schedule, steps.warmup, steps.total)
        return cls(model, weights, optimizer, scheduler, adapter_weights(model, weights.masters))


@dataclass
class Progress:
    """Where the training stands: what a checkpoint keeps beside the weights and optimizer."""

    step: int = 0  # optimizer steps done
    losses: list[float] = field(default_factory=list)  # each step's mean loss per target
    tokens_before: int = 0  # tokens trained and seconds spent before this process (resumed)
    seconds_before: float = 0.0
    tokens_run: int = 0  # tokens trained and seconds spent by this process
    seconds_run: float = 0.0
    resumed_from: int | None = None

    @property
    def tokens(self) -> int:
        return self.tokens_before + self.tokens_run

    @property
    def seconds(self) -> float:
        return self.seconds_before + self.seconds_run


def resume(learner: Learner, checkpoint: Path, steps: StepPlan, run: TrainRun) -> Progress:
    """Restore the optimizer, schedule and RNGs from `checkpoint` (the weights already are:
    `checkpoint.restore_adapter`) and return the progress it recorded."""
    state = load_checkpoint(checkpoint, learner.optimizer, learner.scheduler)
    run.print_fn(f"resuming from {checkpoint} (step {state['step']} of {steps.total})")
    return Progress(
        step=state["step"],
        losses=state["losses"],
        tokens_before=state["tokens"],
        seconds_before=state["seconds"],
        resumed_from=state["step"],
    )


def train_steps(
    run: TrainRun,
    learner: Learner,
    examples: list[EncodedExample],
    pad_id: int,
    steps: StepPlan,
    progress: Progress,
    run_id: str,
) -> None:
    """Take the optimizer steps from `progress.step` to `steps.total`, updating `progress`;
    on rank 0, checkpoint every `config.checkpoint_every` steps (`run_id`: the fingerprint)."""
    from tqdm import tqdm

    config, ctx, device = run.config, run.ctx, run.device
    model, weights, optimizer = learner.model, learner.weights, learner.optimizer
    trainable = weights.masters
    head_weight = float32_head_weight(model)
    lengths = [len(e.input_ids) for e in examples]
    plans: dict[int, list[list[int]]] = {}
    bar = tqdm(
        total=steps.total,
        initial=progress.step,
        disable=not config.progress or not ctx.is_main,
        unit="step",
        dynamic_ncols=True,
        desc="train",
    )
    started = time.perf_counter()
    losses = progress.losses
    for step in range(progress.step, steps.total):
        epoch, index = divmod(step, steps.per_epoch)
        if epoch not in plans:
            plans = {epoch: micro_batch_plan(lengths, config.batch_size, config.seed, epoch)}
        micro = plans[epoch][index * config.grad_accum : (index + 1) * config.grad_accum]
        batches = [[examples[i] for i in mb] for mb in micro]
        n_targets = sum(e.n_loss_tokens for b in batches for e in b)
        step_loss = 0.0
        for batch in batches:
            progress.tokens_run += sum(len(e.input_ids) for e in batch)  # the whole job's tokens
            share = ctx.share(batch)
            if not share:
                continue
            loss_sum, _ = micro_batch_loss(model, share, pad_id, device, head_weight)
            # normalise by the whole step's target count: accumulation (and the ranks'
            # shares) add up to one big batch
            (loss_sum / n_targets).backward()
            weights.collect_gradients()
            step_loss += loss_sum.item()
        ctx.sum_gradients(list(trainable.values()))
        step_loss = ctx.sum(step_loss, device)
        if config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(trainable.values(), config.max_grad_norm)
        optimizer.step()
        weights.push()
        learner.scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(step_loss / n_targets)
        elapsed = time.perf_counter() - started
        bar.update(1)
        bar.set_postfix(
            loss=f"{losses[-1]:.4f}", tok_s=f"{progress.tokens_run / max(elapsed, 1e-9):.0f}"
        )
        progress.step = done = step + 1
        if (
            ctx.is_main
            and config.checkpoint_every
            and done % config.checkpoint_every == 0
            and done < steps.total
        ):
            saved = save_checkpoint(
                run.partial / "checkpoints",
                done,
                learner.adapter,
                optimizer,
                learner.scheduler,
                {
                    "losses": losses,
                    "tokens": progress.tokens_before + progress.tokens_run,
                    "seconds": progress.seconds_before + elapsed,
                    "fingerprint": run_id,
                },
            )
            if run.on_checkpoint is not None:
                run.on_checkpoint(done, saved)
    bar.close()
    progress.seconds_run = time.perf_counter() - started
