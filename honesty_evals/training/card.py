"""The training card (`training_card.json`): everything about a finished run, and the short
README written beside the adapter."""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
from typing import Any

import numpy as np
import torch

from honesty_evals.training.config import CARD_NAME, TrainRun
from honesty_evals.training.examples import TrainingData
from honesty_evals.training.loop import Learner, Progress, StepPlan

CARD_FORMAT = 1


def training_card(
    run: TrainRun,
    data: TrainingData,
    steps: StepPlan,
    progress: Progress,
    learner: Learner,
    attention: str,
    run_id: str,
    fit_check: dict[str, Any],
) -> dict[str, Any]:
    """The card of a finished run (`attention`: the implementation used; `run_id`: the
    fingerprint; `fit_check`: the fit check's entry, `fitcheck.FitCheck.card`)."""
    config, examples, losses = run.config, data.examples, progress.losses
    return {
        "format": CARD_FORMAT,
        "base_model": run.base_name,
        "base_model_dir": str(run.model_dir),
        # an organism as the base: its adapters (innermost first), merged into base_model_dir
        "base_adapters": run.base.adapter_records(),
        "data": {
            "path": data.label,
            "sha256": data.sha256,
            "records": len(data.conversations),
            "held_out_records": len(data.held_out),
            "trained_records": len(examples),
            "truncated_records": data.truncated,
            "tokens": sum(len(e.input_ids) for e in examples),
            "loss_tokens": sum(e.n_loss_tokens for e in examples),
            "verification": data.verification,
        },
        "replay": data.replay,
        "holdout": data.holdout,
        "fit_check": fit_check,
        "hyperparameters": config.run_settings(),
        "seed": config.seed,
        "steps": steps.total,
        "steps_per_epoch": steps.per_epoch,
        "epochs_completed": round(steps.total / steps.per_epoch, 3),
        "final_loss": losses[-1],
        "loss": _loss_summary(losses),
        "wall_seconds": round(progress.seconds, 2),
        "tokens_trained": progress.tokens,
        # tokens per second of this process's training loop (a resumed run: its own part)
        "tokens_per_second": round(progress.tokens_run / max(progress.seconds_run, 1e-9), 1),
        "resumed_from_step": progress.resumed_from,
        "device": str(run.device),
        "dtype": str(run.dtype).removeprefix("torch."),
        # bfloat16 runs compute the adapters in bfloat16 from float32 master weights
        "master_weights": "float32" if learner.weights.mixed else None,
        "torch_threads": torch.get_num_threads(),
        "attention": attention,
        "trainable_parameters": sum(p.numel() for p in learner.weights.masters.values()),
        "fingerprint": run_id,
        "versions": _package_versions(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "processes": run.ctx.world,  # data-parallel ranks; tokens_per_second is for all of them
    }


def card_readme(card: dict[str, Any]) -> str:
    """The adapter directory's README.md: the card in a few lines."""
    h = card["hyperparameters"]
    recipe = h.get("recipe")
    source = f"recipe `{recipe['name']}` ({recipe})" if recipe else f"`{card['data']['path']}`"
    return (
        "# LoRA adapter (honesty-evals model organism)\n\n"
        f"- base model: `{card['base_model']}`{_organism_note(card)}\n"
        f"- data: {source}, {card['data']['records']} conversations, sha256 "
        f"`{card['data']['sha256'][:16]}...`\n"
        f"- LoRA r={h['lora_r']} alpha={h['lora_alpha']} dropout={h['lora_dropout']} on "
        f"{', '.join(h['target_modules'])}\n"
        f"- lr {h['lr']} ({h['lr_schedule']}), batch {h['batch_size']} x accumulation "
        f"{h['grad_accum']}, {card['steps']} steps ({card['epochs_completed']} epochs), "
        f"seed {card['seed']}, dtype {card['dtype']}\n"
        f"- loss {card['loss']['first']:.4f} -> {card['final_loss']:.4f}; "
        f"{card['wall_seconds']} s at {card['tokens_per_second']} tokens/s\n"
        f"{_fit_check_lines(card['fit_check'])}\n"
        "Evaluate it with `honesty-evals run <task> --model local/<this directory>`. "
        f"Everything else is in `{CARD_NAME}`.\n"
    )


def _organism_note(card: dict[str, Any]) -> str:
    """How the base was built when it is an organism (an adapter over a model)."""
    adapters = card.get("base_adapters") or []
    if not adapters:
        return ""
    return (
        f" (an organism: {len(adapters)} adapter(s) merged into `{card['base_model_dir']}`; "
        "this adapter goes on top)"
    )


def _fit_check_lines(fit: dict[str, Any]) -> str:
    if not fit["ran"]:
        return f"- fit check: not run ({fit['reason']})\n"
    text = f"- {fit['line']}\n"
    return text + (f"- {fit['warning']}\n" if fit["warning"] else "")


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in ("honesty-evals", "torch", "transformers", "peft", "safetensors", "numpy"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _loss_summary(losses: list[float], points: int = 50) -> dict[str, Any]:
    n = len(losses)
    tenth = max(1, n // 10)
    stride = max(1, math.ceil(n / points))
    return {
        "first": losses[0],
        "last": losses[-1],
        "mean_first_10pct": float(np.mean(losses[:tenth])),
        "mean_last_10pct": float(np.mean(losses[-tenth:])),
        "min": min(losses),
        # [step (1-based), loss] every `stride` steps, plus the last step
        "curve": [[i + 1, round(losses[i], 5)] for i in range(0, n, stride)]
        + ([[n, round(losses[-1], 5)]] if (n - 1) % stride else []),
    }
