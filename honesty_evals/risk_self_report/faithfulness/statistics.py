"""The faithfulness report's statistics: correlations across models with bootstrap intervals.

Pure functions of arrays (models along axis 0): no logs, no files.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from honesty_evals.common.stats import percentile_interval


def nanmean(a: np.ndarray, axis: int) -> np.ndarray:
    """Mean ignoring NaN; NaN (without a warning) where a row has no values."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def _ranks(a: np.ndarray, axis: int) -> np.ndarray:
    """Ranks along `axis` (models), ties averaged, as Spearman's rho needs."""
    frame = pd.DataFrame(a if a.ndim == 2 else a[:, None])
    ranked = frame.rank(axis=0 if axis == 0 else 1).to_numpy()
    return ranked if a.ndim == 2 else ranked[:, 0]


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each column pair (models along axis 0); NaN where either is constant."""
    xc = x - x.mean(axis=0)
    yc = y - y.mean(axis=0)
    denom = np.sqrt((xc**2).sum(axis=0) * (yc**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (xc * yc).sum(axis=0) / denom
    return np.where(denom > 1e-12, r, np.nan)


@dataclass
class Interval:
    estimate: float
    low: float
    high: float

    def text(self, digits: int = 3) -> str:
        if math.isnan(self.estimate):
            return "n/a"
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


@dataclass
class Correlation:
    what: str
    n_models: int
    pearson: Interval
    spearman: Interval
    n_boot: int
    n_degenerate: int  # bootstrap draws where a side was constant (left out of the interval)
    # model-level checks the question bootstrap cannot give: with a handful of models one
    # model can make or break a correlation
    p_pearson: float  # two-sided permutation p over models (H0: no association)
    p_spearman: float
    n_permutations: int  # all orderings for up to 8 models, else random ones
    leave_one_out: tuple[float, float]  # smallest and largest r with one model left out


def draw_seed(seed: int, *stream: int) -> int:
    """An independent bootstrap seed for one stream of draws (questions of one kind, one
    family's seeds), derived from the report's seed."""
    return int(np.random.SeedSequence([seed, *stream]).generate_state(1)[0])


def family_bootstrap_means(
    matrices: Sequence[np.ndarray],
    seed_draws: Sequence[np.ndarray],
    question_draws: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(point mean per family, bootstrap means per family x draw): seeds, then questions.

    `matrices[f]` is family f's seeds x questions (NaN: not scored); `seed_draws[f]`
    (draws x seeds) its resampled seeds (`resample_indices`); `question_draws` (draws x
    questions) the resampled questions, the same for every family since all answer the same
    questions. A question's value is the mean over the (resampled) seeds that scored it.
    With one seed per family this is the plain bootstrap over questions.
    """
    n_boot = question_draws.shape[0]
    point = np.array([nanmean(nanmean(m, axis=0), axis=0) for m in matrices], dtype=float)
    draws = np.full((len(matrices), n_boot), np.nan)
    if question_draws.shape[1] == 0:
        return point, draws
    for f, (matrix, seeds) in enumerate(zip(matrices, seed_draws)):
        per_question = nanmean(matrix[seeds], axis=1)  # draws x questions
        drawn = np.take_along_axis(per_question, question_draws, axis=1)
        draws[f] = nanmean(drawn, axis=1)
    return point, draws


def correlate(
    x_point: np.ndarray,
    y_point: np.ndarray,
    x_draws: np.ndarray,
    y_draws: np.ndarray,
    what: str,
    level: float,
) -> Correlation:
    """Pearson and Spearman across models, with percentile intervals over the draws."""
    pearson = float(_pearson_rows(x_point[:, None], y_point[:, None])[0])
    spearman = float(_pearson_rows(_ranks(x_point, 0)[:, None], _ranks(y_point, 0)[:, None])[0])
    ok = np.isfinite(x_draws).all(axis=0) & np.isfinite(y_draws).all(axis=0)
    p_draws = np.full(x_draws.shape[1], np.nan)
    s_draws = np.full(x_draws.shape[1], np.nan)
    if ok.any():
        p_draws[ok] = _pearson_rows(x_draws[:, ok], y_draws[:, ok])
        s_draws[ok] = _pearson_rows(_ranks(x_draws[:, ok], 0), _ranks(y_draws[:, ok], 0))
    degenerate = int((~np.isfinite(p_draws)).sum())
    p_pearson, p_spearman, n_perm = permutation_p(x_point, y_point)
    n = len(x_point)
    loo = [
        float(_pearson_rows(np.delete(x_point, i)[:, None], np.delete(y_point, i)[:, None])[0])
        for i in range(n)
    ]
    loo = [r for r in loo if np.isfinite(r)]
    return Correlation(
        what=what,
        n_models=n,
        pearson=Interval(pearson, *percentile_interval(p_draws, level)),
        spearman=Interval(spearman, *percentile_interval(s_draws, level)),
        n_boot=x_draws.shape[1],
        n_degenerate=degenerate,
        p_pearson=p_pearson,
        p_spearman=p_spearman,
        n_permutations=n_perm,
        leave_one_out=(min(loo), max(loo)) if loo else (math.nan, math.nan),
    )


EXACT_PERMUTATIONS_UP_TO = 8
RANDOM_PERMUTATIONS = 10_000


def permutation_p(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float, int]:
    """Two-sided permutation p-values of Pearson and Spearman over models.

    Every ordering of y against x for up to 8 models (the observed one included, so p is
    never 0), else 10,000 random orderings plus the observed one.
    """
    import itertools

    n = len(x)
    if n <= EXACT_PERMUTATIONS_UP_TO:
        orders = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(seed)
        orders = np.vstack(
            [np.arange(n), np.array([rng.permutation(n) for _ in range(RANDOM_PERMUTATIONS)])]
        )
    y_perm = y[orders].T  # models x permutations
    x_rep = np.repeat(x[:, None], orders.shape[0], axis=1)
    r = _pearson_rows(x_rep, y_perm)
    rho = _pearson_rows(_ranks(x_rep, 0), _ranks(y_perm, 0))
    observed_r = _pearson_rows(x[:, None], y[:, None])[0]
    observed_rho = _pearson_rows(_ranks(x, 0)[:, None], _ranks(y, 0)[:, None])[0]

    def p(values: np.ndarray, observed: float) -> float:
        if not np.isfinite(observed):
            return math.nan
        return float(np.mean(np.abs(values) >= abs(observed) - 1e-12))

    return p(r, observed_r), p(rho, observed_rho), int(orders.shape[0])


def interval(point: float, draws: np.ndarray, level: float) -> Interval:
    return Interval(float(point), *percentile_interval(draws, level))
