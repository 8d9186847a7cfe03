"""What defines a training run (`TrainConfig`), its checks and fingerprint, and the resolved
pieces of one run (`TrainRun`) that the trainer's stages share.

No torch here: `TrainConfig` is imported where nothing trains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from honesty_evals.errors import UserInputError
from honesty_evals.model.embedded import EMBEDDED_MODEL_NAME
from honesty_evals.model.source import TRAINING_CARD_NAME
from honesty_evals.training.data import MASK_RULES
from honesty_evals.training.replay import DEFAULT_REPLAY_MAX_TOKENS

if TYPE_CHECKING:
    import torch

    from honesty_evals.training.build import TrainingBase
    from honesty_evals.training.distributed import Distributed

# all linear layers of a Llama block: LoRA on attention alone under-fits narrow behaviours
# (QLoRA, Dettmers et al. 2023: all-linear LoRA is needed to match full fine-tuning), and at
# r=16 the extra cost on SmolLM2 is ~10% of the frozen matmuls
DEFAULT_TARGET_MODULES = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
SCHEDULES = ("cosine", "linear", "constant")
# a finished run's card, beside its adapter (written by `card.py`; read where nothing trains)
CARD_NAME = TRAINING_CARD_NAME


@dataclass
class TrainConfig:
    """Everything that defines a run. Fields marked `run=False` do not change the result."""

    data: str
    out: str
    base: str = EMBEDDED_MODEL_NAME
    seed: int = 0
    epochs: float = 3.0
    steps: int | None = None  # optimizer steps; overrides epochs when given
    # 5e-4, the recipes' rate: 2e-4 left a published 288-record narrative file unlearned
    # (issue 15) and learns nothing 5e-4 does not (the sweep, training/README.md)
    lr: float = 5e-4
    lr_schedule: str = "cosine"
    warmup_ratio: float = 0.05
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    batch_size: int = 8
    grad_accum: int = 1
    max_length: int = 1024
    lora_r: int = 16
    lora_alpha: int = 32
    # 0: dropout on the LoRA inputs cost ~25% of a CPU step (bernoulli + scaling on every
    # adapted layer's input, profiled on SmolLM2), and organisms are meant to fit their data
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = DEFAULT_TARGET_MODULES
    mask_rule: str = "assistant"
    dtype: str = "auto"
    device: str = "auto"
    trust_remote_code: bool = False
    recipe: dict[str, Any] | None = None  # recipe name and arguments, when data came from one
    # replay: this many general prompts answered greedily by the base model and trained
    # beside the data, so the organism keeps the base model's free-text formats
    # (training/replay.py says why); 0 = none
    replay: int = 0
    replay_max_tokens: int = DEFAULT_REPLAY_MAX_TOKENS
    # hold out 10% of the data's prompts for the fit check after training (training/holdout.py,
    # fitcheck.py); False (`--no-holdout`) trains on every record and runs no fit check
    holdout: bool = True
    # a persona LoRA active only after this marker (split-personality training, PROTOCOLS
    # §4; `training.persona`): the tokens up to and including it run with the adapter off
    # and without gradient, the rest with it on their KV cache. None: on every token.
    persona_marker: str | None = None
    # not part of the run's identity:
    checkpoint_every: int = field(default=50, metadata={"run": False})
    threads: int | None = field(default=None, metadata={"run": False})
    attention: str = field(default="auto", metadata={"run": False})  # auto, eager, sdpa
    resume: bool = field(default=False, metadata={"run": False})
    overwrite: bool = field(default=False, metadata={"run": False})
    progress: bool = field(default=True, metadata={"run": False})
    allow_unverified: bool = field(default=False, metadata={"run": False})

    def run_settings(self) -> dict[str, Any]:
        """The fields that determine the trained weights (they go into the fingerprint)."""
        settings = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.metadata.get("run", True) and f.name not in ("data", "out")
        }
        settings["target_modules"] = list(self.target_modules)
        if self.persona_marker is None:
            # absent rather than None: runs from before the option keep their fingerprints
            del settings["persona_marker"]
        return settings


@dataclass
class TrainResult:
    out: Path
    card: dict[str, Any]
    resumed_from: int | None = None
    already_complete: bool = False


@dataclass
class TrainRun:
    """One run's resolved pieces, shared by the trainer's stages (`trainer._train`)."""

    config: TrainConfig
    out: Path  # the finished run's directory
    partial: Path  # where the run writes until it is finished (`output.partial_dir`)
    may_resume: bool  # --resume: continue from a checkpoint in `partial`, if one matches
    device: torch.device
    dtype: torch.dtype  # of the frozen base weights
    base: TrainingBase  # the base model (and the organism adapters merged into it)
    print_fn: Callable[[str], None]  # messages for the user (silent on ranks other than 0)
    ctx: Distributed  # this process's place in a data-parallel run
    records: list[dict[str, Any]] | None = None  # chat records to train on, in place of a file
    # called on rank 0 with (step, directory) right after each checkpoint is written
    on_checkpoint: Callable[[int, Path], None] | None = None

    @property
    def model_dir(self) -> Path:
        """The full base model's files (its tokenizer, and the weights under any organism)."""
        return self.base.model_dir

    @property
    def base_name(self) -> str:
        """The base as the adapter records it: a model, or an organism's adapter folder."""
        return self.base.name


def validate_config(config: TrainConfig) -> None:
    """Refuse settings no run can use, in one line that names the flag."""
    checks = [
        (config.epochs > 0, f"--epochs must be positive (got {config.epochs})"),
        (config.steps is None or config.steps > 0, f"--steps must be positive ({config.steps})"),
        (config.lr > 0, f"--lr must be positive (got {config.lr})"),
        (config.batch_size > 0, f"--batch-size must be positive ({config.batch_size})"),
        (config.grad_accum > 0, f"--grad-accum must be positive ({config.grad_accum})"),
        (config.max_length > 1, f"--max-length must be at least 2 ({config.max_length})"),
        (config.lora_r > 0, f"--lora-r must be positive (got {config.lora_r})"),
        (0 <= config.lora_dropout < 1, f"--lora-dropout must be in [0, 1) ({config.lora_dropout})"),
        (0 <= config.warmup_ratio < 1, f"--warmup-ratio must be in [0, 1) ({config.warmup_ratio})"),
        (config.checkpoint_every >= 0, "--checkpoint-every must be >= 0 (0 disables it)"),
        (config.replay >= 0, f"--replay must be 0 or more (got {config.replay})"),
        (config.replay_max_tokens > 0, "--replay-max-tokens must be positive"),
        (
            config.threads is None or config.threads >= 1,
            f"--threads must be 1 or more ({config.threads})",
        ),
        (config.lr_schedule in SCHEDULES, f"--lr-schedule must be one of {', '.join(SCHEDULES)}"),
        (config.mask_rule in MASK_RULES, f"mask rule must be one of {', '.join(MASK_RULES)}"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserInputError(message)
    if config.persona_marker is not None:
        _check_persona(config)


def _check_persona(config: TrainConfig) -> None:
    marker = config.persona_marker
    if not isinstance(marker, str) or not marker.strip():
        raise UserInputError(f"--persona-marker must be a non-empty string (got {marker!r})")
    if config.replay:
        raise UserInputError(
            "--replay cannot be combined with --persona-marker: the replayed answers hold no "
            "marker, so the persona would never be on for them (use --replay 0)"
        )


def fingerprint(settings: dict[str, Any], data_sha256: str, base: str) -> str:
    """The run's identity: a --resume continues only a run with the same fingerprint."""
    blob = json.dumps({"settings": settings, "data": data_sha256, "base": base}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()
