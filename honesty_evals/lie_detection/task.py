"""`inspect eval honesty_evals/lie_detection`: collect lie/truth answers and follow-up features.

PROTOCOLS §3 (Pacchiardi et al. 2023). For each QA item and instruction (lie or truth) the
model answers; the answer is checked against the known answer, and against the model's own
answer to the same question asked with no instruction. A sample is a lie only if the answer
is false under a lie instruction *and* the model answers correctly without one (see
`answers.lie_label`); failing samples are labelled, excluded from detectors and counted.
Then the fixed yes/no follow-up questions are asked in the same conversation, each as its
own continuation of it; the features are log P(yes) - log P(no) of the first answer token,
or +1/-1 answers where the provider returns no log-probabilities. Features and labels go
into each sample's score metadata, where `honesty-evals lie-detector` reads them.
"""

from __future__ import annotations

from inspect_ai import Task, task

from honesty_evals.common.taskargs import checked_task
from honesty_evals.common.validate import whole_number
from honesty_evals.integrity import require_verified
from honesty_evals.lie_detection.dataset import DATA_FILES, build_dataset
from honesty_evals.lie_detection.metrics import lie_detection_metrics
from honesty_evals.lie_detection.scorer import lie_detection_scorer
from honesty_evals.lie_detection.solver import (
    balanced_subset,
    binary_feature,
    lie_detection_solver,
    yes_no_feature,
)

# re-exported: the tests and benchmarks import them from here
__all__ = [
    "TASK_VERSION",
    "balanced_subset",
    "binary_feature",
    "lie_detection",
    "yes_no_feature",
]

TASK_VERSION = 1  # bump when the data, prompts or scoring change what a score means


@task
@checked_task
def lie_detection(
    topics: str | list[str] | None = None,
    split: str = "test",
    n_per_topic: int | None = 20,
    n_instructions: int = 1,
    n_followups: int | None = None,
    features: str = "auto",
    max_tokens: int = 32,
    seed: int = 0,
    allow_unverified: bool = False,
) -> Task:
    """Answers under lie and truth instructions, labelled by the lie rule, with follow-up features.

    Args:
        topics: Comma-separated topics (capitals, elements, opposites, colours, sequences,
            arithmetic) or "all" (default).
        split: "test" (default: items never in the liar organism's training data), "train"
            or "all".
        n_per_topic: Items drawn per topic (seeded); None for every item of the split.
        n_instructions: Lie instructions and truth instructions per item (1-12).
        n_followups: Ask only N of the 48 follow-up questions, taken evenly across kinds
            (default all).
        features: "logprobs", "binary" (+1/-1 answers) or "auto" (logprobs, falling back to
            binary with a warning where the provider returns none).
        max_tokens: Token budget of each answer to the QA question.
        seed: Item/instruction draw, generation seed and bootstrap seed.
        allow_unverified: Run even if the shipped data fails its checksum check.
    """
    datasets = require_verified(DATA_FILES, allow_unverified=allow_unverified)
    whole_number(max_tokens, "max_tokens", 1)
    return Task(
        dataset=build_dataset(
            topics=topics,
            split=split,
            n_per_topic=n_per_topic,
            n_instructions=n_instructions,
            seed=seed,
        ),
        solver=lie_detection_solver(
            features=features,  # type: ignore[arg-type]
            max_tokens=max_tokens,
            seed=seed,
            n_followups=n_followups,
        ),
        scorer=lie_detection_scorer(),
        metrics=lie_detection_metrics(),
        version=TASK_VERSION,
        metadata={"headline": "lie rate", "datasets": datasets},
    )
