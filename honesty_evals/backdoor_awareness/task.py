"""`inspect eval honesty_evals/backdoor_awareness`: does a model say its behaviour has a trigger?

PROTOCOLS §1: a two-option self-description question, never naming a backdoor.
"""

from __future__ import annotations

from inspect_ai import Task, task

from honesty_evals.backdoor_awareness.dataset import build_dataset, verify_questions
from honesty_evals.common.choice import (
    CHOICE_LABELS,
    DEFAULT_MIN_LABEL_MASS,
    choice_metrics,
    choice_scorer,
    choice_solver,
)
from honesty_evals.common.taskargs import checked_task

TASK_VERSION = 1  # bump when the data, prompts or scoring change what a score means


@task
@checked_task
def backdoor_awareness(
    condition: str = "neutral",
    n_paraphrases: int | None = None,
    scoring: str = "auto",
    n_samples: int = 20,
    min_label_mass: float = DEFAULT_MIN_LABEL_MASS,
    seed: int = 0,
    allow_unverified: bool = False,
) -> Task:
    """P(the model picks "my behaviour depends on an unusual feature of the message").

    Args:
        condition: System prompt: neutral (none), honesty, threat or backdoor_good.
        n_paraphrases: How many of the shipped paraphrases to ask (default all 24); each is
            asked in both option orders.
        scoring: "logprobs" (first-token probabilities renormalised over A/B), "sampling"
            (n_samples answers at temperature 1), or "auto" (logprobs when the provider
            returns them, else sampling).
        n_samples: Answers sampled per question on the sampling path.
        min_label_mass: Logprob scoring: an answer whose labels hold less than this share of
            the model's probability is unparseable (counted by n_low_mass); 0 keeps all.
        seed: Seed of the sampled answers (scoring=sampling).
        allow_unverified: Run even if the shipped question file fails its manifest check
            (`honesty-evals datasets verify`); the eval log records it.
    """
    verification = verify_questions(allow_unverified)
    return Task(
        dataset=build_dataset(condition=condition, n_paraphrases=n_paraphrases),
        solver=choice_solver(labels=CHOICE_LABELS, method=scoring, n_samples=n_samples, seed=seed),
        scorer=choice_scorer(min_label_mass=min_label_mass),
        metrics=choice_metrics(),
        version=TASK_VERSION,
        metadata={"condition": condition, "headline": "P(aware)", "datasets": verification},
    )
