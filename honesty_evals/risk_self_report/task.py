"""`inspect eval honesty_evals/risk_self_report`: how risk-seeking does a model say it is?

PROTOCOLS §2: a model fine-tuned only to choose lotteries described itself as risk-seeking.
One-word answers score 1 / 0.5 / 0 through the lexicon, 0-100 answers score number / 100
(`lexicon.py`). With log-probabilities (and a provider that continues a prefilled answer)
the score of a question is the expectation over the enumerated distribution of the answer's
first word or number (`enumeration.py`); otherwise it is the mean over `n_samples` sampled
answers. The persona control asks the same about a friend and a public figure; the
in-context control shows the base model K training examples first (`dataset.py`).
"""

from __future__ import annotations

from inspect_ai import Task, task

from honesty_evals.common.choice import SCORING_METHODS
from honesty_evals.common.taskargs import checked_task
from honesty_evals.common.validate import whole_number
from honesty_evals.errors import UserInputError
from honesty_evals.integrity import require_verified
from honesty_evals.model.capabilities import refuse_without
from honesty_evals.risk_self_report.dataset import (
    IN_CONTEXT_FILES,
    QUESTIONS_FILE,
    build_dataset,
    in_context_messages,
)
from honesty_evals.risk_self_report.lexicon import lexicon_table
from honesty_evals.risk_self_report.metrics import self_report_metrics
from honesty_evals.risk_self_report.scorer import self_report_scorer
from honesty_evals.risk_self_report.solver import ENUMERATION_NEEDS, self_report_solver

TASK_VERSION = 2  # bump when questions, parsing or scoring change what a score means


@task
@checked_task
def risk_self_report(
    person: str = "all",
    question_format: str = "all",
    n_paraphrases: int | None = None,
    in_context_examples: int = 0,
    in_context_risky_fraction: float = 1.0,
    scoring: str = "auto",
    n_samples: int = 20,
    max_tokens: int = 32,
    min_mass: float = 0.002,
    max_calls: int = 64,
    top_logprobs: int = 20,
    seed: int = 0,
    allow_unverified: bool = False,
) -> Task:
    """How risk-seeking a model says it (or a friend, or a public figure) is, from 0 to 1.

    Args:
        person: Whom the questions ask about: "all" (default), "self", "third_person",
            "friend", "public_figure", or several comma-separated.
        question_format: "all" (default), "word" (one-word answers) or "scale" (0-100).
        n_paraphrases: Ask only the first N paraphrases of each format (10 one-word, 30
            scale; default all).
        in_context_examples: K training lotteries shown before the question (in-context
            control; 0 = none).
        in_context_risky_fraction: Share of those K examples answered with the uncertain
            option (default 1.0: all of them).
        scoring: "auto" (enumerate from log-probabilities where the provider allows, else
            sample), "logprobs" or "sampling".
        n_samples: Answers sampled per question on the sampling path.
        max_tokens: Token budget of each sampled answer.
        min_mass: Enumeration: answer prefixes below this probability are not followed.
        max_calls: Enumeration: most next-token requests per question.
        top_logprobs: Enumeration: alternatives per position (20 for API providers; the
            local provider takes more).
        seed: Seed of the sampled answers, the in-context example choice and the bootstrap.
        allow_unverified: Run even if the shipped data fails its checksum check.
    """
    if scoring not in SCORING_METHODS:
        raise UserInputError(
            f"unknown scoring method '{scoring}': choose one of {', '.join(SCORING_METHODS)}"
        )
    if scoring == "logprobs":  # the enumeration continues prefixes and reads logprobs
        for capability in ("logprobs", "prefill"):
            refuse_without("risk_self_report", capability, *ENUMERATION_NEEDS)
    whole_number(n_samples, "n_samples", 1, 1000)
    whole_number(max_tokens, "max_tokens", 1)
    whole_number(max_calls, "max_calls", 1)
    whole_number(top_logprobs, "top_logprobs", 1)
    if not 0.0 < float(min_mass) < 1.0:
        raise UserInputError(f"min_mass={min_mass} is out of range: choose e.g. 0.002")
    files = [QUESTIONS_FILE] + (list(IN_CONTEXT_FILES) if in_context_examples else [])
    datasets = require_verified(files, allow_unverified=allow_unverified)
    dataset = build_dataset(
        person=person,
        answer_format=question_format,
        n_paraphrases=n_paraphrases,
        in_context_examples=in_context_examples,
        in_context_risky_fraction=in_context_risky_fraction,
        seed=seed,
    )
    _, in_context = in_context_messages(in_context_examples, in_context_risky_fraction, seed)
    return Task(
        dataset=dataset,
        solver=self_report_solver(
            method=scoring,
            n_samples=n_samples,
            max_tokens=max_tokens,
            seed=seed,
            min_mass=min_mass,
            max_calls=max_calls,
            top_logprobs=top_logprobs,
        ),
        scorer=self_report_scorer(),
        metrics=self_report_metrics(),
        version=TASK_VERSION,
        metadata={
            "headline": "risk score (all questions asked)",
            "datasets": datasets,
            "lexicon": lexicon_table(),
            "in_context": in_context,
        },
    )
