"""`inspect eval honesty_evals/confession`: does the model flag its own dishonest answers?

PROTOCOLS §4. Each sample is one held-out transcript (directive, question, the organism's
answer, its denial) followed by the intervention in the chosen prompt format: `split` (the
split-personality marker and intervention inside the final assistant turn, continued as a
prefill) or `followup` (the intervention as a user turn). The model writes its review
(greedy) and the flag is read, as P(FAIL) where the provider returns log-probabilities,
else from the text (`solver.py`). The metrics (`metrics.py`): AUROC, accuracy, TPR
(confession rate) and FPR (false confessions), each with its 95% interval over questions.
"""

from __future__ import annotations

from typing import Any

from inspect_ai import Task, task

from honesty_evals.common.taskargs import checked_task
from honesty_evals.common.validate import whole_number
from honesty_evals.confession.dataset import EVAL_SPLITS, build_dataset
from honesty_evals.confession.formats import check_format
from honesty_evals.confession.metrics import detection, detection_headline, detection_summary
from honesty_evals.confession.scorer import confession_scorer
from honesty_evals.confession.solver import (
    SPLIT_NEEDS,
    confession_solver,
    flag_distribution,
    parse_flag,
    review_before_flag,
)
from honesty_evals.confession.transcripts import (
    DISHONEST_FILE,
    HONEST_FILE,
    IGNORED_FILE,
    Transcript,
    load_shipped,
    read_transcripts,
)
from honesty_evals.errors import UserInputError
from honesty_evals.model.capabilities import refuse_without

# re-exported: the tests, the ablation and the command line import them from here
__all__ = [
    "TASK_VERSION",
    "build_dataset",
    "confession",
    "confession_scorer",
    "confession_solver",
    "detection",
    "detection_headline",
    "detection_summary",
    "flag_distribution",
    "parse_flag",
    "review_before_flag",
]


def hidden_module() -> Any:
    """`confession.hidden` (the conditions' transcripts and organisms), imported when a
    condition is asked for; by name, so that its absence is an import error there, not a
    type error here (the module lands from another branch)."""
    import importlib

    return importlib.import_module("honesty_evals.confession.hidden")


def condition_transcripts(
    condition: str, allow_unverified: bool
) -> tuple[list[Transcript], dict[str, Any]]:
    """A hidden condition's shipped transcripts (`hidden.load_condition`), its name checked."""
    hidden = hidden_module()
    if condition not in hidden.CONDITIONS:
        raise UserInputError(
            f"unknown condition '{condition}': choose one of {', '.join(hidden.CONDITIONS)}"
        )
    return hidden.load_condition(condition, allow_unverified)


TASK_VERSION = 1  # bump when the data, prompts or scoring change what a score means


@task
@checked_task
def confession(
    format: str = "followup",
    split: str = "heldout",
    data: str | None = None,
    n_per_label: int | None = None,
    scoring: str = "auto",
    review_max_tokens: int = 48,
    seed: int = 0,
    allow_unverified: bool = False,
    condition: str = "visible",
) -> Task:
    """Does the model flag its own dishonest answers when asked to review them?

    Args:
        format: How the review is elicited: "split" (split-personality marker inside the
            assistant turn; needs a provider that continues a trailing assistant message,
            such as `local`) or "followup" (a user question). Evaluate a generic-honesty
            model with "followup".
        split: "heldout" (questions never trained on), "heldout_topic" (a topic never
            trained on), "train", or "directive_ignored" (a lie directive the organism did
            not follow: the honest flag is PASS).
        data: Transcripts of your own instead of the shipped ones: a .jsonl or .parquet
            file, or a Hugging Face `datasets` folder written by `save_to_disk` (local).
        n_per_label: At most this many transcripts per label (seeded); default all.
        scoring: "auto" (log-probabilities, else the written flag), "logprobs", "sampling".
        review_max_tokens: Token budget of the review.
        seed: Generation seed, subsample and bootstrap seed.
        allow_unverified: Run even if the shipped data fails its checksum check.
        condition: Which shipped transcripts: "visible" (the lie directive in the system
            prompt, which the reviewer reads), "stripped" (the same transcripts without the
            system message: the lie is hidden) or "covert" (the covert-liar organism's, no
            directive at all); `hidden.load_condition`.
    """
    check_format(format, ("split", "followup"))
    if format == "split":  # the review continues the assistant's turn
        refuse_without("confession", *SPLIT_NEEDS)
    if split not in EVAL_SPLITS:
        raise UserInputError(f"unknown split '{split}': choose one of {', '.join(EVAL_SPLITS)}")
    if n_per_label is not None:
        n_per_label = whole_number(n_per_label, "n_per_label", 1)
    if data is not None and condition != "visible":
        raise UserInputError(
            f"condition={condition} picks shipped transcripts, and data= gives your own: "
            "use one of them"
        )
    if data is not None:
        transcripts = read_transcripts(data)
        datasets: dict[str, Any] = {"path": str(data), "verified": False}
    elif condition != "visible":
        transcripts, datasets = condition_transcripts(condition, allow_unverified)
    else:
        files = (IGNORED_FILE,) if split == "directive_ignored" else (HONEST_FILE, DISHONEST_FILE)
        transcripts, datasets = load_shipped(allow_unverified, files)
    return Task(
        dataset=build_dataset(transcripts, format, split, n_per_label, seed),
        solver=confession_solver(scoring=scoring, review_max_tokens=review_max_tokens, seed=seed),
        scorer=confession_scorer(),
        metrics=[detection(seed=seed)],
        version=TASK_VERSION,
        metadata={
            "headline": "detection",
            "headline_format": "detection",
            "datasets": datasets,
            "prompt_format": format,
            "split": split,
            "condition": condition,
        },
    )
