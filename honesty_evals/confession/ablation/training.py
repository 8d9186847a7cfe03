"""The ablation's training runs: one LoRA per condition, arm and seed, trained over the
condition's organism, every checkpoint exported as an adapter."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honesty_evals.confession.ablation.plan import AblationPlan
from honesty_evals.confession.formats import format_train_config, training_records
from honesty_evals.confession.transcripts import Transcript


def recorded_base(organism: Path) -> str:
    """The base an adapter trained over `organism` records: the organism folder's absolute
    path when it is an adapter (the trainer stacks over it), else the model's own name."""
    from honesty_evals.training.trainer import resolve_base

    if (organism / "adapter_config.json").is_file():
        return str(organism.resolve())
    return resolve_base(str(organism))[1]


def train_arm(
    plan: AblationPlan,
    condition: str,
    arm: str,
    seed: int,
    transcripts: list[Transcript],
    print_fn: Callable[[str], None],
) -> dict[str, Any]:
    """Train one arm of a condition with one seed over the condition's organism (resuming an
    interrupted run), or read its finished training card."""
    # looked up at call time: the trainer loads torch, and tests replace export_adapter
    from honesty_evals.training.checkpoint import export_adapter, latest_checkpoint
    from honesty_evals.training.trainer import CARD_NAME, partial_dir, train

    cfg = plan.config
    out = plan.adapter_dir(condition, arm, seed)
    card_path = out / CARD_NAME
    if card_path.is_file():
        return json.loads(card_path.read_text())
    organism = plan.organism_dir(condition)
    records = training_records(transcripts, arm)
    config = format_train_config(
        arm,
        len(records),
        out=str(out),
        base=str(organism),
        steps=cfg.steps,
        lr=cfg.lr,
        batch_size=cfg.batch_size,
        lora_r=cfg.lora_r,
        seed=seed,
        checkpoint_every=cfg.eval_every,
        threads=cfg.threads,
        progress=cfg.progress,
        resume=partial_dir(out).exists(),
        source={"condition": condition},
    )
    lora = {
        "r": config.lora_r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": config.lora_dropout,
        "target_modules": config.target_modules,
    }
    base_name = recorded_base(organism)  # as the trainer records it in the adapter

    def export(step: int, checkpoint: Path) -> None:
        export_adapter(
            checkpoint, plan.checkpoint_adapter(condition, arm, seed, step), lora, base_name
        )

    # a checkpoint written just before an interruption may not have been exported yet
    latest = latest_checkpoint(partial_dir(out) / "checkpoints")
    if latest is not None:
        export(int(latest.name.split("-")[-1]), latest)
    print_fn(
        f"training {condition}/{arm} seed {seed} over {organism.name}: {len(records)} records, "
        f"{cfg.steps} steps -> {out}"
    )
    result = train(config, records=records, on_checkpoint=export)
    return result.card
