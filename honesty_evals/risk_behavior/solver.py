"""risk_behavior's solver: lettered items through the shared choice machinery, free-text
items answered in words and read by the free-text parser.

Both store a `ChoiceDistribution` over the item's labels, so one scorer (`choice_scorer`)
and one set of metrics serve every format.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from inspect_ai.solver import Generate, Solver, TaskState, solver

from honesty_evals.common.choice import (
    STORE_KEY,
    choice_solver,
    distribution_from_samples,
    sample_answers,
    validate_scoring,
)
from honesty_evals.common.seeds import sample_seed
from honesty_evals.risk_behavior.choices import FREE_TEXT
from honesty_evals.risk_behavior.freetext import parse_free_text

# enough for a choice and a reason: the parser reads the first sentence naming an option
DEFAULT_FREE_TEXT_TOKENS = 64


async def _answer_free_text(
    state: TaskState,
    generate: Generate,
    method: str,
    n_samples: int,
    seed: int,
    max_tokens: int,
) -> TaskState:
    """One greedy answer (scoring auto or logprobs: a free-text answer has no
    label token to read), or `n_samples` at temperature 1 (scoring sampling)."""
    labels = tuple(state.metadata["labels"])
    names = state.metadata["option_names"]
    question = list(state.messages)
    how: Literal["sampling", "greedy"]
    if method == "sampling":
        seeds = [sample_seed(seed, state.sample_id, k, epoch=state.epoch) for k in range(n_samples)]
        answers = await sample_answers(question, max_tokens, seeds)
        how = "sampling"
    else:
        state = await generate(state, temperature=0.0, max_tokens=max_tokens)
        answers = [state.output.completion]
        how = "greedy"
    distribution = distribution_from_samples(
        answers,
        labels,
        parse=lambda answer: parse_free_text(answer, labels, names).label,
        method=how,
    )
    state.store.set(STORE_KEY, asdict(distribution))
    return state


@solver
def behaviour_solver(
    method: str = "auto",
    n_samples: int = 20,
    seed: int = 0,
    free_text_max_tokens: int = DEFAULT_FREE_TEXT_TOKENS,
) -> Solver:
    """Measure each sample's label distribution by its item's answer form.

    Args:
        method: "auto", "logprobs" or "sampling" (`common.choice.choice_solver`); free-text
            items are answered greedily unless "sampling".
        n_samples: Answers drawn per question on the sampling path.
        seed: Sampling seed (`sample_seed(seed, sample id, draw)`).
        free_text_max_tokens: Token budget of a free-text answer.
    """
    validate_scoring(method, n_samples)
    letter_solvers: dict[tuple[str, ...], Solver] = {}  # one per label pair

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        if state.metadata.get("answer") == FREE_TEXT:
            return await _answer_free_text(
                state, generate, method, n_samples, seed, free_text_max_tokens
            )
        labels = tuple(state.metadata["labels"])
        if labels not in letter_solvers:
            letter_solvers[labels] = choice_solver(
                labels=labels, method=method, n_samples=n_samples, seed=seed
            )
        return await letter_solvers[labels](state, generate)

    return solve
