"""`honesty-evals confession ablation`: split-personality vs follow-up vs generic honesty,
on visible and hidden lies (issue 16).

For each condition (`visible`, `stripped`, `covert`: `hidden.CONDITIONS`) and each training
seed, every arm (format) is trained over the organism that wrote the condition's
transcripts, on that condition's train split, with the same step budget, batch size,
learning rate and LoRA; a peft adapter is exported from every checkpoint (each
`eval_every` steps) and evaluated on the condition's held-out questions, so each arm gets
a learning curve of detection AUROC against steps. The untrained organism is evaluated with
the same prompts (step 0 of every curve; the baseline arm). At the last step each arm (and
the baseline) is also evaluated on the held-out topic, and on the directive-ignored
diagnostic set where the directive is visible.

Everything lives in OUT: finished pieces (a training run, an exported checkpoint, an
evaluation) are skipped when the command is run again, and an interrupted training run
resumes from its last checkpoint, so an interrupted ablation continues where it stopped.

The package, by concern: `config` (settings), `plan` (the pieces and their places in OUT),
`data` (transcripts, organisms and evaluation samples), `training` (one LoRA per
condition, arm and seed), `evaluation`
(one piece at a time), `summary` (the numbers over seeds), `report` (results.json) and
`render` (results.md, the learning-curve PNG).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from honesty_evals.confession.ablation.config import (
    CONDITIONS,
    DEFAULT_BATCH_SIZE,
    DEFAULT_EVAL_EVERY,
    DEFAULT_LORA_R,
    DEFAULT_LR,
    DEFAULT_N_PER_LABEL,
    DEFAULT_STEPS,
    AblationConfig,
)
from honesty_evals.confession.ablation.data import (
    condition_organism,
    lie_topics,
    load_conditions,
)
from honesty_evals.confession.ablation.evaluation import evaluate_piece
from honesty_evals.confession.ablation.plan import (
    BASELINE,
    FINAL_SPLITS,
    SETTINGS_FILE,
    AblationPlan,
    Piece,
)
from honesty_evals.confession.ablation.training import train_arm
from honesty_evals.confession.transcripts import Transcript

__all__ = [
    "BASELINE",
    "CONDITIONS",
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
]


class Ablation:
    """One ablation run: per seed and condition, the condition's organism (trained once, or
    reused), its untrained baseline, then each arm's training over it and its evaluations;
    then the report. Every finished piece in OUT is kept and skipped on a rerun."""

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
        # where the run goes, then the data: a bad file must not leave settings behind
        from honesty_evals.common.outputs import check_output_dir

        check_output_dir(self.out, "--out")
        transcripts, verification = load_conditions(cfg)
        self.plan.check_settings()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        started = time.perf_counter()
        # seeds outermost: one complete seed (every condition) before the next starts
        for seed in cfg.seeds:
            for condition in cfg.conditions:
                self._run_condition(condition, seed, transcripts[condition])
        # the report's statistics load scipy and Inspect: only once there is a report
        from honesty_evals.confession.ablation.report import write_report

        topics = lie_topics(transcripts["covert"]) if "covert" in transcripts else None
        return write_report(self.plan, verification, time.perf_counter() - started, topics)

    def _run_condition(self, condition: str, seed: int, transcripts: list[Transcript]) -> None:
        plan = self.plan
        if condition not in plan.organisms:
            plan.organisms[condition] = condition_organism(
                self.config, condition, plan.organism_home(condition)
            )
        for piece in plan.baseline_pieces(condition):
            evaluate_piece(plan, piece, transcripts, self.print)
        for arm in self.config.formats:
            train_arm(plan, condition, arm, seed, transcripts, self.print)
            for piece in plan.arm_pieces(condition, arm, seed):
                evaluate_piece(plan, piece, transcripts, self.print)
