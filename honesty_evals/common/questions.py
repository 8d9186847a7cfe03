"""Which questions count: the one rule every mean, interval and comparison uses.

A choice question is asked in several option orders (the target listed first and second).
Small models prefer one position strongly (SmolLM2 picks the first option 88-94% of the
time), so a question averaged over one order is a different quantity from the same question
averaged over both: with one order lost, its mean moves by about 0.4. Dropping unparseable
answers one by one would then compare a model on one order of a question with another model
on both. The rule is therefore per question: **a question counts only when every option
order it was asked in has a parsed answer**; otherwise it is left out whole, and counted.

Within a counted question each order's parsed answers (epochs, repeats) are averaged first,
then the orders, so each order weighs the same whatever its number of parsed repeats.
Tasks without option orders (free-form answers, one sample per question) pass no orders:
then a question counts when any of its answers parsed, as before.

Used by the task metrics (`common/metrics.py`), `honesty-evals compare` (`compare.py`), the
audit's readers (through `common.choicelog.load_choice_log`) and the faithfulness report.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

NO_ORDER = "all"  # the one order of a task that asks each question one way


@dataclass(frozen=True)
class QuestionMeans:
    """Per-question means over complete questions, and the questions left out."""

    means: dict[Hashable, float]  # complete questions, in first-seen order
    incomplete: list[Hashable] = field(default_factory=list)  # some order had no parsed answer
    orders: dict[Hashable, list[Hashable]] = field(default_factory=dict)  # question -> orders

    @property
    def n_incomplete(self) -> int:
        return len(self.incomplete)

    def values(self) -> np.ndarray:
        return np.fromiter(self.means.values(), dtype=float, count=len(self.means))

    def is_complete(self, question: Hashable) -> bool:
        return question in self.means


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def complete_question_means(
    values: Sequence[float | None],
    questions: Sequence[Hashable],
    orders: Sequence[Hashable | None] | None = None,
) -> QuestionMeans:
    """Mean of each question whose every option order has a parsed answer.

    Args:
        values: One per answer: the score, or None / NaN when the answer was unparseable
            (including answers below the minimum label mass).
        questions: The question (cluster) id of each answer.
        orders: The option order of each answer ("aware_first", True/False for
            target_first, ...); None (or a None entry) when the task has no orders.

    The orders a question was asked in are the ones its answers carry, parsed or not, so a
    question is incomplete exactly when one of its asked orders has no parsed answer.
    """
    if len(values) != len(questions) or (orders is not None and len(orders) != len(values)):
        raise ValueError("values, questions and orders must have one entry per answer")
    asked: dict[Hashable, dict[Hashable, list[float]]] = {}
    for i, (value, question) in enumerate(zip(values, questions)):
        order = NO_ORDER if orders is None or orders[i] is None else orders[i]
        parsed = asked.setdefault(question, {}).setdefault(order, [])
        if not _missing(value):
            parsed.append(float(value))  # type: ignore[arg-type]
    means: dict[Hashable, float] = {}
    incomplete: list[Hashable] = []
    for question, by_order in asked.items():
        if all(by_order.values()):
            means[question] = float(np.mean([np.mean(v) for v in by_order.values()]))
        else:
            incomplete.append(question)
    return QuestionMeans(
        means=means,
        incomplete=incomplete,
        orders={q: list(by_order) for q, by_order in asked.items()},
    )
