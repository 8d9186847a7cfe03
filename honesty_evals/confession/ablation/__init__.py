"""`honesty-evals confession ablation`: split-personality vs follow-up vs generic honesty.

Every format is trained on the same train-split transcripts with the same seed, step budget,
batch size, learning rate and LoRA; a peft adapter is exported from every checkpoint (each
`eval_every` steps) and evaluated on the held-out transcripts, so each format gets a
learning curve of detection AUROC against steps. The untrained model is evaluated with the
same prompts (step 0 of every curve). At the last step each format (and the baseline) is
also evaluated on the held-out topic and on the directive-ignored diagnostic set.

Everything lives in OUT: finished pieces (a training run, an exported checkpoint, an
evaluation) are skipped when the command is run again, and an interrupted training run
resumes from its last checkpoint, so an interrupted ablation continues where it stopped.

The package, by concern: `config` (settings), `plan` (the pieces and their places in OUT),
`data` (transcripts and evaluation samples), `training` (one LoRA per format), `evaluation`
(one piece at a time) and `report` (results.json, results.md, the learning-curve PNG).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from honesty_evals.confession.ablation.config import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_EVAL_EVERY,
    DEFAULT_LORA_R,
    DEFAULT_LR,
    DEFAULT_N_PER_LABEL,
    DEFAULT_STEPS,
    AblationConfig,
)
from honesty_evals.confession.ablation.data import load_transcripts
from honesty_evals.confession.ablation.evaluation import evaluate_piece
from honesty_evals.confession.ablation.plan import (
    BASELINE,
    FINAL_SPLITS,
    SETTINGS_FILE,
    AblationPlan,
    Piece,
)
from honesty_evals.confession.ablation.report import (
    AUROC_TARGET,
    anchor_comparison,
    plot_learning_curves,
    render_markdown,
    write_report,
)
from honesty_evals.confession.ablation.training import train_format

__all__ = [
    "AUROC_TARGET",
    "BASELINE",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EVAL_EVERY",
    "DEFAULT_LORA_R",
    "DEFAULT_LR",
    "DEFAULT_N_PER_LABEL",
    "DEFAULT_STEPS",
    "FINAL_SPLITS",
    "SETTINGS_FILE",
    "Ablation",
    "AblationConfig",
    "AblationPlan",
    "Piece",
    "anchor_comparison",
    "plot_learning_curves",
    "render_markdown",
]


class Ablation:
    """One ablation run: baselines, then each format's training and evaluations, then the
    report; every finished piece in OUT is kept and skipped on a rerun."""

    def __init__(
        self, config: AblationConfig, print_fn: Callable[[str], None] | None = None
    ) -> None:
        config.validate()
        self.config = config
        self.plan = AblationPlan(config)
        self.out = self.plan.out
        self.print = print_fn or (lambda msg: print(msg, file=sys.stderr, flush=True))

    def run(self) -> dict[str, Any]:
        import torch

        cfg = self.config
        # the data first: a bad file must not leave settings behind (see validate)
        transcripts, verification = load_transcripts(cfg)
        self.plan.check_settings()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        started = time.perf_counter()
        pieces = self.plan.pieces()
        for piece in [p for p in pieces if p.condition == BASELINE]:
            evaluate_piece(self.plan, piece, transcripts, self.print)
        for fmt in cfg.formats:
            train_format(self.plan, fmt, transcripts, self.print)
            for piece in [p for p in pieces if p.condition == fmt]:
                evaluate_piece(self.plan, piece, transcripts, self.print)
        return write_report(self.plan, verification, time.perf_counter() - started)
