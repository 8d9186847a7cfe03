"""One model's metric on one eval log, as the audit gates it, and the choice tasks' reader.

A task offers the audit its metrics with a reader each (`common.taskinfo.AuditMetric`): a
function from an eval log to a `Measurement`. The readers live in the task folders, next to
the task whose log they read; the four choice tasks and risk_self_report share
`read_choice_metric`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from honesty_evals.errors import UserInputError


@dataclass(frozen=True)
class Estimate:
    """A value with its interval, from a metric that is not a mean over questions (AUROC)."""

    value: float
    ci_low: float
    ci_high: float
    level: float
    n: int  # the unit the interval resamples (questions)


@dataclass(frozen=True)
class Measurement:
    """One model's metric on one eval: per-question values, or one estimate, or why neither.

    `per_question` maps a question id to the model's mean on that question (the unit the
    intervals resample); paired metrics use it. For a seed family (several fine-tuning
    seeds of one model, PROTOCOLS §0) `seeds` holds each seed's per-question values and
    `per_question` their mean over the questions every seed scored. `estimate` is for
    metrics with their own interval. `note` says why the metric could not be measured when
    both are empty. `methods` counts the method classes that scored its samples
    (`common.methods`; empty where the task records none).
    """

    per_question: Mapping[str, float] | None = None
    estimate: Estimate | None = None
    n_samples: int = 0
    n_excluded: int = 0  # unparseable (choice tasks) or excluded by the lie rule
    n_incomplete: int = 0  # questions left out: an option order had no parsed answer
    note: str | None = None
    log: str | None = None
    seeds: tuple[Mapping[str, float], ...] = ()
    methods: Mapping[str, int] = field(default_factory=dict)

    @property
    def measured(self) -> bool:
        return bool(self.per_question) or self.estimate is not None

    @property
    def runs(self) -> tuple[Mapping[str, float], ...]:
        """Per-question values of each run (one run unless this is a seed family)."""
        return self.seeds or ((self.per_question,) if self.per_question else ())


def unmeasured(path: Path, note: str) -> Measurement:
    """A log whose metric could not be measured, saying why."""
    return Measurement(note=note, log=str(path))


def read_choice_metric(path: Path, seed: int = 0) -> Measurement:
    """P(target) per question from a choice-style log (one score, question_id metadata).

    Only questions whose every option order parsed count (`common.choicelog.load_choice_log`, rule
    in `common/questions.py`), so a difference gate pairs each question over the same
    orders on both models; the others are counted in `n_incomplete`.
    """
    # imported here: pandas stays out of the tasks' import (Inspect's entry point)
    from honesty_evals.common.choicelog import load_choice_log

    try:
        summary = load_choice_log(path)
    except UserInputError as exc:
        return unmeasured(path, str(exc))
    per_question = {str(q): float(v) for q, v in summary.per_question.items()}
    low_mass = f", {summary.n_low_mass} of them low label mass" if summary.n_low_mass else ""
    return Measurement(
        per_question=per_question,
        n_samples=summary.n_samples,
        n_excluded=summary.n_unparseable,
        n_incomplete=summary.n_incomplete_questions,
        methods=summary.methods,
        note=None
        if per_question
        else (
            f"no question with every option order parsed ({summary.n_unparseable} "
            f"unparseable samples{low_mass}; {summary.n_incomplete_questions} questions "
            "incomplete)"
        ),
        log=str(path),
    )
