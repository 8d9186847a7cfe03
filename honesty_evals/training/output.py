"""A run's output directory: everything is written to `<out>.partial/` (checkpoints in
`<out>.partial/checkpoints/`), and only a finished run is renamed to `<out>`, so `<out>`
never holds a half-written adapter."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.errors import UserInputError
from honesty_evals.training.card import CARD_NAME, card_readme
from honesty_evals.training.checkpoint import latest_checkpoint
from honesty_evals.training.config import TrainConfig, TrainRun
from honesty_evals.training.loop import Learner

RUN_FILE = "run.json"  # in <out>.partial: the fingerprint a --resume must match


def partial_dir(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def run_status(out: Path) -> str:
    """Where a run into `out` stands: "finished" (its training card is there), "partial"
    (`<out>.partial` holds work a `resume` continues) or "pending"."""
    if (out / CARD_NAME).is_file():
        return "finished"
    return "partial" if partial_dir(out).is_dir() else "pending"


def resume_or_skip(out: Path, label: str, say: Callable[[str], None]) -> bool | None:
    """For an experiment that trains many organisms: None when the run into `out` is
    finished (skip it), else whether to resume it; `say` gets one line either way."""
    status = run_status(out)
    if status == "finished":
        say(f"{label}: already trained in {out}, skipped")
        return None
    say(f"{label}: {'resuming' if status == 'partial' else 'training'} -> {out}")
    return status == "partial"


def prepare_output_dirs(config: TrainConfig, out: Path) -> tuple[Path, bool]:
    """Check `out` and `<out>.partial` against the flags; return (partial dir, may resume)."""
    partial = partial_dir(out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} is a file, not a directory")
    if out.is_dir() and any(out.iterdir()) and not config.overwrite:
        what = "a finished training run" if (out / CARD_NAME).is_file() else "other files"
        hint = " (--resume only continues an interrupted run)" if config.resume else ""
        raise UserInputError(
            f"--out {out} already holds {what}{hint}: pass --overwrite to replace it, or "
            "choose another directory"
        )
    if partial.exists():
        if config.overwrite and not config.resume:
            shutil.rmtree(partial)
        elif not config.resume:
            raise UserInputError(
                f"an interrupted run is in {partial}: pass --resume to continue it or "
                "--overwrite to start again"
            )
    partial.mkdir(parents=True, exist_ok=True)
    return partial, config.resume


def find_checkpoint(run: TrainRun, run_id: str) -> Path | None:
    """The checkpoint a --resume continues from, if the interrupted run matches `run_id`
    (its fingerprint); records `run_id` for the next --resume. Rank 0 only."""
    partial, run_file = run.partial, run.partial / RUN_FILE
    checkpoint = None
    if run.may_resume and run_file.is_file():
        previous = json.loads(run_file.read_text())
        if previous.get("fingerprint") != run_id:
            raise UserInputError(
                f"--resume: the interrupted run in {partial} used different data or "
                "settings; rerun with the same ones, or pass --overwrite (without --resume) "
                "to start over"
            )
        checkpoint = latest_checkpoint(partial / "checkpoints")
    if run.may_resume and checkpoint is None:
        run.print_fn(f"--resume: no checkpoint in {partial}, starting from the beginning")
    settings = run.config.run_settings()
    write_text_atomic(run_file, json.dumps({"fingerprint": run_id, "settings": settings}))
    return checkpoint


def save_adapter(learner: Learner, run: TrainRun) -> None:
    """Save the trained adapter into the partial dir with peft's `save_pretrained`."""
    learner.weights.install()  # the adapter is saved in float32, as trained (the masters)
    learner.model.save_pretrained(str(run.partial), safe_serialization=True)
    adapter_config_path = run.partial / "adapter_config.json"
    adapter_config = json.loads(adapter_config_path.read_text())
    # the local provider maps `smollm2` to the embedded model, and a directory to itself
    adapter_config["base_model_name_or_path"] = run.base_name
    write_text_atomic(adapter_config_path, json.dumps(adapter_config, indent=2) + "\n")


def publish(run: TrainRun, card: dict[str, Any]) -> None:
    """Write the card and README beside the adapter, drop what only a resume needs, and
    rename the finished partial dir to `out`, replacing an old run only now."""
    partial, out = run.partial, run.out
    write_text_atomic(partial / CARD_NAME, json.dumps(card, indent=2) + "\n")
    write_text_atomic(partial / "README.md", card_readme(card))
    shutil.rmtree(partial / "checkpoints", ignore_errors=True)
    (partial / RUN_FILE).unlink(missing_ok=True)
    trash = None
    if out.exists():
        trash = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, trash)
    os.replace(partial, out)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
