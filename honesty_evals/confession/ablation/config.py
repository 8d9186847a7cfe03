"""The ablation's settings: its defaults, `AblationConfig` and what identifies a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honesty_evals.confession.formats import FORMATS, check_format
from honesty_evals.errors import UserInputError

# `hidden.CONDITIONS`, without importing it (the command line's parser must stay light):
# `visible` (the lie directive in the system prompt, which the reviewer sees), `stripped`
# (the same transcripts without the system message) and `covert` (the covert-liar
# organism's transcripts: no directive at all). A test holds the two equal.
CONDITIONS = ("visible", "stripped", "covert")
HIDDEN_CONDITIONS = ("stripped", "covert")
# The organism that wrote each condition's transcripts, as a folder name under
# OUT/organisms: visible and stripped are the same transcripts, so they share one organism
# (trained once).
ORGANISM_OF = {"visible": "confession-liar", "stripped": "confession-liar", "covert": "covert-liar"}

# Time budget (issue 16: the whole ablation with one seed <= 60 min on an idle 2-core
# machine, where the trainer does ~300 tokens/s; the lead times it). Per seed:
# - the organisms, when OUT has none yet: two, each 744 records x 3 epochs of ~75 tokens
#   (the liar organism: 168k tokens) ~ 2 x 560 s = 1,120 s; none with --organisms pointing
#   at organisms already trained (e.g. those that wrote the transcripts);
# - 3 conditions x 4 arms: a review arm (split, split_all_tokens, followup) is 32 steps x 8
#   records of ~150 tokens = 38k tokens ~ 128 s; generic ~50 tokens a record ~ 43 s:
#   3 x (3 x 128 + 43) ~ 1,280 s;
# - evaluations: every arm at step 16 and 32 on the held-out questions and at step 32 on
#   the held-out topic (and the directive-ignored set, visible only); the untrained
#   organism with both prompts on those splits: 54 evaluations of 2 x 16 transcripts (16
#   for directive-ignored) at ~0.5 s a transcript (the 2026-11-29 run: 0.95 s on the busy
#   machine, whose trainer ran 2-3x slower than idle) ~ 860 s.
# In all ~3,260 s = 54 min with both organisms trained in the run, ~36 min without. 32
# steps at lr 1e-3: the 2026-11-29 run's review arms were at held-out AUROC 0.88-0.95 at
# step 32 and 1.0 at 64 (a 24-step pilot had not learned the flag); 64 steps would cost
# another ~21 min.
DEFAULT_STEPS = 32
DEFAULT_EVAL_EVERY = 16
DEFAULT_LR = 1e-3
DEFAULT_BATCH_SIZE = 8
DEFAULT_LORA_R = 16
DEFAULT_N_PER_LABEL = 16
# What a run folder's pieces mean, recorded with every run. 2: `split` is the persona active
# only after its marker and `split_all_tokens` the LoRA on every token; 3: conditions x
# arms x seeds, every arm trained over the condition's organism (pieces keyed by condition,
# arm and seed). A run folder of an earlier version is refused rather than resumed.
ARMS_VERSION = 3


@dataclass
class AblationConfig:
    out: str
    formats: tuple[str, ...] = FORMATS
    conditions: tuple[str, ...] = CONDITIONS
    seeds: tuple[int, ...] = (0,)  # training seeds: one LoRA per arm, condition and seed
    steps: int = DEFAULT_STEPS
    eval_every: int = DEFAULT_EVAL_EVERY
    lr: float = DEFAULT_LR
    batch_size: int = DEFAULT_BATCH_SIZE
    lora_r: int = DEFAULT_LORA_R
    seed: int = 0  # the data seed: evaluation subsample, generation and bootstrap
    n_per_label: int | None = DEFAULT_N_PER_LABEL
    review_max_tokens: int = 48
    eval_dtype: str = "bfloat16"
    # where the conditions' organisms are trained or reused (default OUT/organisms)
    organisms: str | None = None
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
        values["conditions"] = list(self.conditions)
        values["seeds"] = list(self.seeds)
        values["arms_version"] = ARMS_VERSION
        return values

    def organisms_dir(self) -> Path:
        if self.organisms is not None:
            return Path(self.organisms).expanduser().resolve()
        return Path(self.out).expanduser().resolve() / "organisms"

    def validate(self) -> None:
        for name in self.formats:
            check_format(name)
        if not self.formats:
            raise UserInputError("--formats is empty: give e.g. split,followup,generic")
        for name in self.conditions:
            if name not in CONDITIONS:
                raise UserInputError(
                    f"unknown condition '{name}' in --conditions: choose from "
                    f"{', '.join(CONDITIONS)}"
                )
        if not self.conditions:
            raise UserInputError("--conditions is empty: give e.g. visible,stripped,covert")
        if not self.seeds:
            raise UserInputError("--seeds is empty: give e.g. 0 or 0-2")
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

    def eval_steps(self) -> list[int]:
        return [*range(self.eval_every, self.steps, self.eval_every), self.steps]
