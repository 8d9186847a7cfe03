"""What the faithfulness report shows: every model's row and the correlations, from the runs."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from honesty_evals.common.stats import DEFAULT_BOOTSTRAPS, resample_indices
from honesty_evals.errors import UserInputError
from honesty_evals.risk_self_report.faithfulness.families import Family, group_families
from honesty_evals.risk_self_report.faithfulness.read import ModelRun
from honesty_evals.risk_self_report.faithfulness.statistics import (
    Correlation,
    Interval,
    correlate,
    draw_seed,
    family_bootstrap_means,
    interval,
)

MIN_MODELS = 3


@dataclass
class ModelRow:
    label: str
    key: str
    kind: str  # "trained" (base or organism) or "in-context"
    trained_risky_fraction: float | None
    in_context_examples: int
    in_context_risky_fraction: float | None
    behavior: Interval | None
    self_report: Interval
    self_word: Interval
    self_scale: Interval
    third_person: Interval
    n_self_questions: int  # first-person questions that gave a score
    n_self_asked: int
    n_lotteries: int
    answer_mass: float
    method: str
    self_report_log: str | None
    behavior_log: str | None
    n_seeds: int = 1  # fine-tuning seeds averaged into this row (a seed family)
    seeds: list[str] = field(default_factory=list)  # the seeds' models, for a family
    # smallest and largest seed mean, for a family of several seeds
    behavior_seed_spread: tuple[float, float] | None = None
    self_report_seed_spread: tuple[float, float] | None = None


@dataclass
class QuestionSet:
    """Which questions of one kind the report uses: those every model scored."""

    what: str  # "first-person self-report questions", "lotteries", ...
    asked: int  # asked of at least one model
    used: int  # scored by every model with that log: every mean and interval uses these
    dropped: list[str]  # asked but not scored by some model: left out for all models


@dataclass
class FaithfulnessReport:
    rows: list[ModelRow]
    main: Correlation | None
    versus_fraction: list[Correlation]
    missing_behavior: list[str]  # models with a self-report but no behaviour log
    missing_self_report: list[str]  # models with a behaviour log but no self-report
    level: float
    n_boot: int
    seed: int
    logs: list[str]
    question_sets: list[QuestionSet] = field(default_factory=list)

    @property
    def n_dropped(self) -> int:
        return sum(len(q.dropped) for q in self.question_sets)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def build_report(
    runs: dict[str, ModelRun],
    level: float = 0.95,
    n_boot: int = DEFAULT_BOOTSTRAPS,
    seed: int = 0,
    require_correlation: bool = True,
) -> FaithfulnessReport:
    """Join the runs by model (seed family) and compute every figure of the report."""
    families = group_families(runs)
    trained = [f for f in families.values() if f.in_context_examples == 0]
    icl = [f for f in families.values() if f.in_context_examples > 0]
    missing_behavior = sorted(f.key for f in trained if f.self_report_log and not f.behavior_log)
    missing_self = sorted(f.key for f in trained if f.behavior_log and not f.self_report_log)
    joined = [f for f in trained if f.self_report_log and f.behavior_log]
    if require_correlation and len(joined) < MIN_MODELS:
        missing = []
        if missing_behavior:
            missing.append(f"no risk_behavior log for: {', '.join(missing_behavior)}")
        if missing_self:
            missing.append(f"no risk_self_report log for: {', '.join(missing_self)}")
        raise UserInputError(
            f"a correlation needs at least {MIN_MODELS} models with both logs; "
            f"{len(joined)} have both"
            + (f" ({'; '.join(missing)})" if missing else "")
            + ": pass both tasks' logs for the base model and each organism"
        )
    with_self = [f for f in families.values() if f.self_report_log]
    behaved = [f for f in trained if f.behavior_log]
    # every model on the same questions: a question one model (one seed of a family) did
    # not score is dropped for all, so no model's mean rests on a different (easier, or
    # one-order) set of questions, and a family's value on a question is over all its seeds
    self_runs = [m for f in with_self for m in f.members]
    behaved_runs = [m for f in behaved for m in f.members]
    self_keys, self_set = _scored_by_all(self_runs, "self_scores", "first-person questions")
    third_keys, third_set = _scored_by_all(self_runs, "third_scores", "third-person questions")
    lottery_keys, lottery_set = _scored_by_all(
        behaved_runs, "behavior_scores", "lotteries (both option orders parsed)"
    )
    question_sets = [self_set, third_set, lottery_set]
    word_keys = [k for k in self_keys if _format_of(runs, k) == "word"]
    scale_keys = [k for k in self_keys if _format_of(runs, k) == "scale"]
    # each family's seeds are resampled once per draw, for all its scores: the self-report
    # and the behaviour of a seed come from the same model
    seed_draws = {
        f.key: resample_indices(f.n_seeds, n_boot, draw_seed(seed, 0, i))
        for i, f in enumerate(families.values())
    }

    def means(
        members: list[Family], attr: str, keys: list[str], stream: int
    ) -> tuple[np.ndarray, np.ndarray]:
        # one set of question draws for every model: they answered the same questions
        questions = resample_indices(len(keys), n_boot, draw_seed(seed, stream))
        return family_bootstrap_means(
            [f.matrix(attr, keys) for f in members],
            [seed_draws[f.key] for f in members],
            questions,
        )

    self_point, self_draws = means(with_self, "self_scores", self_keys, 1)
    word_point, word_draws = means(with_self, "self_scores", word_keys, 2)
    scale_point, scale_draws = means(with_self, "self_scores", scale_keys, 3)
    third_point, third_draws = means(with_self, "third_scores", third_keys, 4)
    beh_point, beh_draws = means(behaved, "behavior_scores", lottery_keys, 5)
    index_self = {f.key: i for i, f in enumerate(with_self)}
    index_beh = {f.key: i for i, f in enumerate(behaved)}

    rows: list[ModelRow] = []
    for f in sorted(
        families.values(),
        key=lambda f: (
            f.in_context_examples > 0,
            -1.0 if f.trained_risky_fraction is None else f.trained_risky_fraction,
            f.in_context_risky_fraction or 0.0,
            f.label,
        ),
    ):
        i = index_self.get(f.key)
        j = index_beh.get(f.key)
        nan = Interval(math.nan, math.nan, math.nan)
        n_self, n_asked = f.scored("self_scores")
        rows.append(
            ModelRow(
                label=f.label,
                key=f.key,
                kind="in-context" if f.in_context_examples else "trained",
                trained_risky_fraction=f.trained_risky_fraction,
                in_context_examples=f.in_context_examples,
                in_context_risky_fraction=f.in_context_risky_fraction,
                behavior=interval(beh_point[j], beh_draws[j], level) if j is not None else None,
                self_report=interval(self_point[i], self_draws[i], level) if i is not None else nan,
                self_word=interval(word_point[i], word_draws[i], level) if i is not None else nan,
                self_scale=interval(scale_point[i], scale_draws[i], level)
                if i is not None
                else nan,
                third_person=interval(third_point[i], third_draws[i], level)
                if i is not None and third_keys
                else nan,
                n_self_questions=n_self,
                n_self_asked=n_asked,
                n_lotteries=f.scored("behavior_scores")[0],
                answer_mass=f.answer_mass,
                method=f.self_report_method,
                self_report_log=f.self_report_log,
                behavior_log=f.behavior_log,
                n_seeds=f.n_seeds,
                seeds=[m.model for m in f.members] if f.n_seeds > 1 else [],
                behavior_seed_spread=f.seed_spread("behavior_scores", lottery_keys),
                self_report_seed_spread=f.seed_spread("self_scores", self_keys),
            )
        )

    main = None
    if len(joined) >= MIN_MODELS:
        si = [index_self[r.key] for r in joined]
        bi = [index_beh[r.key] for r in joined]
        main = correlate(
            beh_point[bi],
            self_point[si],
            beh_draws[bi],
            self_draws[si],
            "self-report (first person) vs behaviour (P(risky)), base model and organisms",
            level,
        )
    versus_fraction: list[Correlation] = []
    for what, members, fraction in (
        (
            "self-report vs trained risky share (organisms)",
            [r for r in trained if r.self_report_log and r.trained_risky_fraction is not None],
            lambda r: r.trained_risky_fraction,
        ),
        (
            "behaviour vs trained risky share (organisms)",
            [r for r in behaved if r.trained_risky_fraction is not None],
            lambda r: r.trained_risky_fraction,
        ),
        (
            "self-report vs risky share shown in context (in-context control)",
            icl,
            lambda r: r.in_context_risky_fraction,
        ),
    ):
        if len(members) < MIN_MODELS:
            continue
        x = np.array([fraction(r) for r in members], dtype=float)
        if "behaviour" in what:
            idx = [index_beh[r.key] for r in members]
            y_point, y_draws = beh_point[idx], beh_draws[idx]
        else:
            idx = [index_self[r.key] for r in members]
            y_point, y_draws = self_point[idx], self_draws[idx]
        versus_fraction.append(
            correlate(x, y_point, np.repeat(x[:, None], n_boot, axis=1), y_draws, what, level)
        )
    return FaithfulnessReport(
        rows=rows,
        main=main,
        versus_fraction=versus_fraction,
        missing_behavior=missing_behavior,
        missing_self_report=missing_self,
        level=level,
        n_boot=n_boot,
        seed=seed,
        logs=sorted({p for r in runs.values() for p in (r.self_report_log, r.behavior_log) if p}),
        question_sets=question_sets,
    )


def _scored_by_all(models: list[ModelRun], attr: str, what: str) -> tuple[list[str], QuestionSet]:
    """The questions of `attr` every model scored (a finite value), and what was dropped."""
    asked = sorted({k for r in models for k in getattr(r, attr)})
    used: list[str] = []
    dropped: list[str] = []
    for k in asked:
        scored = all(math.isfinite(getattr(r, attr).get(k, math.nan)) for r in models)
        (used if scored else dropped).append(k)
    return used, QuestionSet(what=what, asked=len(asked), used=len(used), dropped=dropped)


def _format_of(runs: dict[str, ModelRun], question: str) -> str:
    for r in runs.values():
        if question in r.formats:
            return r.formats[question]
    return ""
