"""The ablation's training runs: one LoRA per format, every checkpoint exported as an adapter."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honesty_evals.confession.ablation.plan import AblationPlan
from honesty_evals.confession.formats import format_train_config, training_records
from honesty_evals.confession.transcripts import Transcript


def train_format(
    plan: AblationPlan,
    fmt: str,
    transcripts: list[Transcript],
    print_fn: Callable[[str], None],
) -> dict[str, Any]:
    """Train one format (resuming an interrupted run), or read its finished training card."""
    # looked up at call time: the trainer loads torch, and tests replace export_adapter
    from honesty_evals.training.checkpoint import export_adapter, latest_checkpoint
    from honesty_evals.training.trainer import CARD_NAME, partial_dir, resolve_base, train

    cfg = plan.config
    out = plan.adapter_dir(fmt)
    card_path = out / CARD_NAME
    if card_path.is_file():
        return json.loads(card_path.read_text())
    records = training_records(transcripts, fmt)
    config = format_train_config(
        fmt,
        len(records),
        out=str(out),
        base=cfg.base,
        steps=cfg.steps,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        lora_r=cfg.lora_r,
        seed=cfg.seed,
        checkpoint_every=cfg.eval_every,
        threads=cfg.threads,
        progress=cfg.progress,
        resume=partial_dir(out).exists(),
    )
    lora = {
        "r": config.lora_r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "target_modules": config.target_modules,
    }

    base_name = resolve_base(cfg.base)[1]  # as the trainer records it in the adapter

    def export(step: int, checkpoint: Path) -> None:
        export_adapter(checkpoint, plan.checkpoint_adapter(fmt, step), lora, base_name)

    # a checkpoint written just before an interruption may not have been exported yet
    latest = latest_checkpoint(partial_dir(out) / "checkpoints")
    if latest is not None:
        export(int(latest.name.split("-")[-1]), latest)
    print_fn(f"training {fmt}: {len(records)} records, {cfg.steps} steps -> {out}")
    result = train(config, records=records, on_checkpoint=export)
    return result.card
