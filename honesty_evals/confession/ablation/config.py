"""The ablation's settings: its defaults, `AblationConfig` and what identifies a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honesty_evals.confession.formats import FORMATS, check_format
from honesty_evals.errors import UserInputError

# Sized for the shared 2-core development machine (module README): training is 64 steps x
# 8 records of ~165 tokens (split, followup) or ~50 (generic), ~194k tokens in all; each
# evaluation reviews 30 + 30 held-out transcripts (~120-token prompts, <= 48-token reviews).
# A 24-step pilot at lr 1e-3 had not yet learned the flag (held-out AUROC 0.73, every flag
# PASS), hence 64 steps at 1e-3.
DEFAULT_STEPS = 64
DEFAULT_EVAL_EVERY = 16
DEFAULT_LR = 1e-3
DEFAULT_BATCH_SIZE = 8
DEFAULT_LORA_R = 16
DEFAULT_N_PER_LABEL = 30
# What the format names mean, recorded with every run: 2 since `split` is the persona active
# only after its marker and `split_all_tokens` the LoRA on every token (what `split` was
# before), so a run folder of version 1 is refused rather than resumed with other arms.
ARMS_VERSION = 2


@dataclass
class AblationConfig:
    out: str
    formats: tuple[str, ...] = FORMATS
    steps: int = DEFAULT_STEPS
    eval_every: int = DEFAULT_EVAL_EVERY
    lr: float = DEFAULT_LR
    batch_size: int = DEFAULT_BATCH_SIZE
    lora_r: int = DEFAULT_LORA_R
    seed: int = 0
    n_per_label: int | None = DEFAULT_N_PER_LABEL
    review_max_tokens: int = 48
    eval_dtype: str = "bfloat16"
    base: str = "smollm2"  # the embedded model, or a local Hugging Face model directory
    data: str | None = None  # a transcript JSONL file instead of the shipped ones
    # not part of the ablation's identity
    threads: int | None = field(default=None, metadata={"run": False})
    progress: bool = field(default=True, metadata={"run": False})
    allow_unverified: bool = field(default=False, metadata={"run": False})

    def identity(self) -> dict[str, Any]:
        from dataclasses import fields

        values = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.metadata.get("run", True) and f.name != "out"
        }
        values["formats"] = list(self.formats)
        values["arms_version"] = ARMS_VERSION
        return values

    def validate(self) -> None:
        for name in self.formats:
            check_format(name)
        if not self.formats:
            raise UserInputError("--formats is empty: give e.g. split,followup,generic")
        if self.steps < 1 or self.eval_every < 1:
            raise UserInputError("--steps and --eval-every must be positive")
        if self.eval_every > self.steps:
            raise UserInputError(
                f"--eval-every {self.eval_every} is more than --steps {self.steps}: no "
                "checkpoint would be evaluated before the end"
            )
        # every option is checked here, before the run records its settings: a mistake
        # found later would leave settings that refuse the corrected rerun
        checks = [
            (self.lr > 0, f"--lr must be positive (got {self.lr})"),
            (self.batch_size >= 1, f"--batch-size must be 1 or more (got {self.batch_size})"),
            (self.lora_r >= 1, f"--lora-r must be 1 or more (got {self.lora_r})"),
            (
                self.n_per_label is None or self.n_per_label >= 1,
                f"--n-per-label must be 1 or more, or 0 for all (got {self.n_per_label})",
            ),
            (
                self.threads is None or self.threads >= 1,
                f"--threads must be 1 or more (got {self.threads})",
            ),
            (
                self.review_max_tokens >= 1,
                f"review_max_tokens must be 1 or more (got {self.review_max_tokens})",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise UserInputError(message)
        from honesty_evals.model.source import diagnose_model_dir, is_embedded_alias

        if not is_embedded_alias(self.base):
            base = Path(self.base).expanduser()
            if not (base / "config.json").is_file():
                raise UserInputError(
                    f"unknown --base '{self.base}': use smollm2 (the embedded model) or a "
                    "local Hugging Face model folder with config.json"
                )
            diagnose_model_dir(base)

    def eval_steps(self) -> list[int]:
        return [*range(self.eval_every, self.steps, self.eval_every), self.steps]
