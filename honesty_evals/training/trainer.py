"""The LoRA trainer for model organisms (and every later feature that fine-tunes).

`train(config)` runs the stages, each in its own module:
- `config`: what defines a run (`TrainConfig`), and the resolved pieces of one (`TrainRun`);
- `output`: the output directory (written in `<out>.partial/`, renamed when finished), the
  fingerprint a `--resume` must match, saving the adapter and publishing;
- `examples`: the data, checked and encoded with the loss mask, and the replay examples;
- `holdout`: the records held out of training; `fitcheck`: scoring them after training;
- `build`: the base model, its tokenizer, the LoRA adapter and the float32 master weights;
- `loop`: the micro-batch plan, the loss, the learning-rate schedule and the steps;
- `distributed`: data-parallel runs; `checkpoint`: checkpoints; `card`: the training card.

One process, one device, unless a launcher starts several (`distributed`). Speed choices
were measured on a 2-core CPU (see benchmarks/README.md and the modules' docstrings).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from honesty_evals.common.outputs import check_output_dir
from honesty_evals.model.devices import resolve_device_dtype, torch_dtype
from honesty_evals.training.build import (
    attach_lora,
    attention_implementation,
    load_tokenizer,
    load_training_base,
    padding_id,
    resolve_base,
    resolve_training_base,
)
from honesty_evals.training.card import CARD_NAME, training_card
from honesty_evals.training.checkpoint import latest_checkpoint, restore_adapter
from honesty_evals.training.config import (
    TrainConfig,
    TrainResult,
    TrainRun,
    fingerprint,
    validate_config,
)
from honesty_evals.training.data import parse_chat_data
from honesty_evals.training.distributed import distributed_setup
from honesty_evals.training.examples import (
    TrainingData,
    add_replay,
    encode_training_data,
    read_training_data,
)
from honesty_evals.training.fitcheck import FitCheck, fit_check, fit_check_skipped
from honesty_evals.training.holdout import MIN_HOLDOUT_GROUPS, resolve_holdout
from honesty_evals.training.loop import (
    Learner,
    Progress,
    StepPlan,
    float32_head_weight,
    resume,
    seed_everything,
    train_steps,
)
from honesty_evals.training.output import (
    find_checkpoint,
    partial_dir,
    prepare_output_dirs,
    publish,
    resume_or_skip,
    run_status,
    save_adapter,
)

# what callers import from here (the trainer's public names)
__all__ = [
    "CARD_NAME",
    "TrainConfig",
    "TrainResult",
    "partial_dir",
    "resolve_base",
    "resume_or_skip",
    "run_status",
    "train",
]


def train(
    config: TrainConfig,
    records: list[dict[str, Any]] | None = None,
    print_fn: Callable[[str], None] | None = None,
    on_checkpoint: Callable[[int, Path], None] | None = None,
) -> TrainResult:
    """Train a LoRA adapter; with `records`, they are written to `<out>/train.jsonl` first.

    `on_checkpoint(step, directory)` is called (on rank 0) right after each checkpoint is
    written. Only the latest checkpoint is kept, so a caller that wants every one (a
    learning curve) copies what it needs, e.g. the adapter, before returning.
    """
    print_fn = print_fn or (lambda msg: print(msg, file=sys.stderr))
    validate_config(config)
    # the output folder and a user's data are checked before the base model is
    # resolved (which may convert it) or anything is written
    out = check_output_dir(config.out, "--out").resolve()
    if records is None:
        parse_chat_data(config.data)
    # "auto" off a GPU is bfloat16 for training (bf16 base weights, float32 LoRA parameters)
    device_name, dtype_name = resolve_device_dtype(
        config.device,
        config.dtype,
        cpu_dtype="bfloat16",
        device_flag="--device",
        dtype_flag="--dtype",
    )
    device, dtype = torch.device(device_name), torch_dtype(dtype_name)
    ctx, device = distributed_setup(device)
    if not ctx.is_main:
        print_fn = _silent
    base = resolve_training_base(config.base)
    partial, may_resume = ctx.on_main(lambda: prepare_output_dirs(config, out))
    threads = torch.get_num_threads()
    try:
        if config.threads:
            torch.set_num_threads(config.threads)
        run = TrainRun(
            config=config,
            out=out,
            partial=partial,
            may_resume=may_resume,
            device=device,
            dtype=dtype,
            base=base,
            print_fn=print_fn,
            ctx=ctx,
            records=records,
            on_checkpoint=on_checkpoint,
        )
        return _train(run)
    except BaseException:
        # keep checkpoints for --resume; drop a partial dir that holds nothing resumable
        if ctx.is_main and not latest_checkpoint(partial / "checkpoints"):
            shutil.rmtree(partial, ignore_errors=True)
        raise
    finally:
        torch.set_num_threads(threads)  # the setting is process-wide: give it back
        if ctx.owns_group:
            import torch.distributed as dist

            dist.destroy_process_group()


def _silent(_msg: str) -> None:
    pass


def _train(run: TrainRun) -> TrainResult:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own bar is the one that matters
    config, ctx = run.config, run.ctx
    data = read_training_data(run)
    run_id = fingerprint(config.run_settings(), data.sha256, run.base.identity())
    checkpoint = ctx.on_main(lambda: find_checkpoint(run, run_id))
    holdout = ctx.on_main(
        lambda: resolve_holdout(
            run.partial,
            data.conversations,
            data.sha256,
            config.seed,
            enabled=config.holdout,
            resuming=checkpoint is not None,
        )
    )
    data.hold_out(holdout)

    seed_everything(config.seed)
    tokenizer = load_tokenizer(run.model_dir, config.trust_remote_code)
    encode_training_data(data, tokenizer, run)
    attention = attention_implementation(config.attention, run.device)
    # an organism base is merged in here: the new LoRA trains over the organism
    model = load_training_base(run.base, run.dtype, attention, config.trust_remote_code)
    if config.replay:
        add_replay(data, run, model, tokenizer, resuming=checkpoint is not None)
    model = attach_lora(model, config, run.device)
    if checkpoint is not None:
        restore_adapter(model, checkpoint)  # while the LoRA weights are still float32
    steps = StepPlan.for_run(len(data.examples), config)
    learner = Learner.create(model, run.dtype, config, steps)
    progress = Progress() if checkpoint is None else resume(learner, checkpoint, steps, run)
    train_steps(run, learner, data.examples, padding_id(tokenizer), steps, progress, run_id)

    # -- write the adapter and the card into the partial dir, then rename it into place --
    if not ctx.is_main:
        card = ctx.on_main(lambda: None)  # wait for rank 0 to publish, then share its card
        return TrainResult(out=run.out, card=card, resumed_from=progress.resumed_from)
    save_adapter(learner, run)
    fit = _fit_check(run, data, learner, padding_id(tokenizer))
    card = training_card(run, data, steps, progress, learner, attention, run_id, fit.card)
    publish(run, card)
    ctx.on_main(lambda: card)
    run.print_fn(
        f"trained {steps.total} steps in {progress.seconds:.0f} s "
        f"({card['tokens_per_second']:.0f} tokens/s), final loss {progress.losses[-1]:.4f} "
        f"-> {run.out}"
    )
    for line in fit.lines:
        run.print_fn(line)
    return TrainResult(out=run.out, card=card, resumed_from=progress.resumed_from)


def _fit_check(run: TrainRun, data: TrainingData, learner: Learner, pad_id: int) -> FitCheck:
    """The fit check on the held-out records (rank 0, after training), or why none ran."""
    holdout = data.holdout or {}
    if not holdout.get("enabled"):
        return fit_check_skipped("--no-holdout: trained on every record")
    if not data.held_out:
        return fit_check_skipped(
            f"the data has {holdout['groups']} distinct prompt(s), fewer than "
            f"{MIN_HOLDOUT_GROUPS}, so none was held out"
        )
    model = learner.model
    return fit_check(model, data.answers, pad_id, run.device, float32_head_weight(model))
