"""The one statistics module: intervals, tests and multiplicity control for every task.

Samples from one question (asked in several option orders, or sampled several times) are
not independent, so uncertainty is computed over *clusters* (questions): each cluster is
averaged first, and bootstraps resample whole clusters.

**Means over questions** (every headline rate, every audit gate) use one method,
`mean_interval`: the skewness-corrected Student interval (Hall 1992), never narrower than
the plain Student interval, with an exact rule for samples without spread. It was chosen by
simulation (`benchmarks/bench_calibration.py`, figures in `benchmarks/README.md`): the
percentile bootstrap it replaces covered 74% at n = 3 and 90% at n = 12 against a nominal
95%; Student's t alone misses the upper end of right-skewed per-question rates 3-5x too
often; Hall's correction alone undercovers heavy-tailed data. Their hull holds 95% within
1.5 points on normal and heavy-tailed shapes at every n measured and on right-skewed ones
from n = 8 or 12 up; below that the long side still undercovers (the benchmark's table
gives the figures), which is one reason gates need many questions before they can pass.

A sample whose values are all equal says nothing about the spread: Student's interval would
have zero width. When the values' range is known (`bounds`, e.g. [-1, 1] for a difference
of two probabilities), the interval is then the exact distribution-free one: the largest
and smallest means of a distribution on `bounds` that gives n equal values with probability
at least (1 - level) / 2 (for 0/1 data this is the Clopper-Pearson bound). Without bounds
the interval is unbounded.

Every interval comes with the one-sided tests it inverts (`MeanTest.p_greater`,
`p_less`), so a decision taken by a test and the interval printed beside it always agree:
the 95% interval excludes a threshold exactly when the one-sided p-value against it is
below 0.025.

Estimates that are not means (AUROC, correlations, seed families) use one cluster
bootstrap (`cluster_weights`, `resample_indices`, `percentile_interval`), with
`DEFAULT_BOOTSTRAPS` resamples unless the caller says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

DEFAULT_BOOTSTRAPS = 2000
DEFAULT_LEVEL = 0.95
MEAN_METHOD = (
    "skewness-corrected t (Hall 1992; G1 and jackknife skewness), never narrower than Student t"
)
# values closer than this (relative to their scale) count as equal: no spread was observed
_TIE_TOLERANCE = 1e-12

Bounds = tuple[float, float]
#: one-dimensional numbers, as a list or an array
Values = Sequence[float] | np.ndarray
PROBABILITY: Bounds = (0.0, 1.0)
DIFFERENCE: Bounds = (-1.0, 1.0)  # a difference of two probabilities


def cluster_means(values: Values, clusters: Sequence[Hashable]) -> np.ndarray:
    """Mean of the values in each cluster, in first-seen cluster order."""
    sums: dict[Hashable, float] = {}
    counts: dict[Hashable, int] = {}
    for value, cluster in zip(values, clusters):
        sums[cluster] = sums.get(cluster, 0.0) + float(value)
        counts[cluster] = counts.get(cluster, 0) + 1
    return np.array([sums[c] / counts[c] for c in sums], dtype=float)


def stderr(values: Values) -> float:
    """Standard error of the mean (sample sd / sqrt n); NaN with fewer than 2 values."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2:
        return math.nan
    return float(arr.std(ddof=1) / math.sqrt(arr.size))


# -- means over questions ---------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval at `level`, the n it rests on and how it was made."""

    estimate: float
    low: float
    high: float
    n: int
    level: float
    method: str

    @property
    def finite(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)


class MeanTest:
    """The mean of independent values (one per question) with its interval and tests.

    `p_greater(t)` is the one-sided p-value of H0: mean <= t (small when the data show the
    mean is above t); `p_less(t)` of H0: mean >= t. The interval at level L is the set of
    t that neither test rejects at (1 - L) / 2, so the two always agree.
    """

    def __init__(self, values: Values, bounds: Bounds | None = None) -> None:
        arr = np.asarray(values, dtype=float)
        if arr.ndim != 1:
            raise ValueError("values must be one-dimensional")
        if bounds is not None and not bounds[0] < bounds[1]:
            raise ValueError(f"bounds must be (low, high) with low < high, got {bounds}")
        self.values = arr
        self.bounds = bounds
        self.n = int(arr.size)
        self.mean = float(arr.mean()) if arr.size else math.nan
        scale = max(1.0, float(np.abs(arr).max())) if arr.size else 1.0
        self.degenerate = self.n >= 1 and float(np.ptp(arr)) <= _TIE_TOLERANCE * scale
        if self.n >= 2 and not self.degenerate:
            sd = float(arr.std(ddof=1))
            self.se = sd / math.sqrt(self.n)
            # Hall's transformation removes skewness's first-order effect on t, with two
            # estimates of the skewness, hulled: the adjusted Fisher-Pearson G1 and its
            # jackknife bias correction. Both are biased towards 0 in small samples (the
            # moment skewness cannot exceed (n - 2) / sqrt(n - 1)); with G1 alone the long
            # side of a right-skewed shape still missed 2.8% at n = 20, with the hull 2.5%
            # (benchmarks/bench_calibration.py)
            self._hall = tuple(
                (g / (3.0 * math.sqrt(self.n)), g / (6.0 * math.sqrt(self.n)))
                for g in dict.fromkeys((skewness(arr), jackknife_skewness(arr)))
            )
        else:
            self.se = math.nan
            self._hall = ()

    # one-sided p-values ---------------------------------------------------------------

    def _cdfs(self, threshold: float) -> list[float]:
        """P(T_{n-1} <= statistic) for Student's statistic and each Hall statistic."""
        t = (self.mean - threshold) / self.se
        df = self.n - 1
        stats = [t] + [t + a * t * t + a * a * t**3 / 3.0 + b for a, b in self._hall]
        return [float(v) for v in _scipy_stats.t.cdf(stats, df)]

    def _degenerate_p(self, threshold: float, above: bool) -> float:
        """Largest chance of n values all equal to the mean under H0 (exact, bounded data)."""
        c = self.mean
        if self.bounds is None:
            return 1.0
        low, high = self.bounds
        if above:  # H0: mean <= threshold; the data sit above it
            if c <= threshold:
                return 1.0
            if threshold <= low:
                return 0.0
            return (1.0 - (c - threshold) / (c - low)) ** self.n
        if c >= threshold:
            return 1.0
        if threshold >= high:
            return 0.0
        return (1.0 - (threshold - c) / (high - c)) ** self.n

    def p_greater(self, threshold: float) -> float:
        """One-sided p of H0: mean <= threshold."""
        if self.n == 0:
            return math.nan
        if self.degenerate:
            return self._degenerate_p(threshold, above=True) if self.n >= 1 else 1.0
        if self.n < 2:
            return 1.0
        # the hull: rejects only when every statistic rejects
        return 1.0 - min(self._cdfs(threshold))

    def p_less(self, threshold: float) -> float:
        """One-sided p of H0: mean >= threshold."""
        if self.n == 0:
            return math.nan
        if self.degenerate:
            return self._degenerate_p(threshold, above=False)
        if self.n < 2:
            return 1.0
        return max(self._cdfs(threshold))

    # the interval these tests invert ----------------------------------------------------

    def interval(self, level: float = DEFAULT_LEVEL) -> Interval:
        alpha = (1.0 - level) / 2.0
        if self.n == 0:
            return Interval(math.nan, math.nan, math.nan, 0, level, MEAN_METHOD)
        if self.degenerate:
            low, high = self._degenerate_interval(alpha)
        elif self.n < 2:
            low, high = -math.inf, math.inf
        else:
            q = float(_scipy_stats.t.ppf(1.0 - alpha, self.n - 1))
            lows = [q] + [_hall_inverse(q, a, b) for a, b in self._hall]
            highs = [-q] + [_hall_inverse(-q, a, b) for a, b in self._hall]
            low = self.mean - max(lows) * self.se
            high = self.mean - min(highs) * self.se
        if self.bounds is not None:  # a mean cannot leave the values' range
            low, high = max(low, self.bounds[0]), min(high, self.bounds[1])
        return Interval(self.mean, low, high, self.n, level, MEAN_METHOD)

    def _degenerate_interval(self, alpha: float) -> tuple[float, float]:
        if self.bounds is None:
            return -math.inf, math.inf
        return tied_values_interval(self.mean, self.bounds, self.n, alpha)


def tied_values_interval(value: float, bounds: Bounds, n: int, alpha: float) -> tuple[float, float]:
    """The exact distribution-free interval for a mean when all n values equal `value`.

    The largest and smallest means of a distribution on `bounds` that gives n equal values
    with probability at least alpha: at most 1 - alpha ** (1 / n) of its mass can sit
    elsewhere, at the far bound.
    """
    low, high = bounds
    reach = 1.0 - alpha ** (1.0 / n)
    return value - (value - low) * reach, value + (high - value) * reach


def _hall_inverse(z: float, a: float, b: float) -> float:
    """The t whose Hall transform is z (the transform is monotone: its slope is a square)."""
    if abs(a) < 1e-12:
        return z - b
    return float((np.cbrt(1.0 + 3.0 * a * (z - b)) - 1.0) / a)


def skewness(values: np.ndarray) -> float:
    """The adjusted Fisher-Pearson skewness G1 (0 without spread or with fewer than 3)."""
    n = values.size
    if n < 3:
        return 0.0
    d = values - values.mean()
    m2 = float(np.mean(d * d))
    if not m2 > 0:
        return 0.0
    return float(np.mean(d**3)) / m2**1.5 * math.sqrt(n * (n - 1)) / (n - 2)


def jackknife_skewness(values: np.ndarray) -> float:
    """G1 with the jackknife's bias correction, n G1 - (n - 1) mean(G1 without value i).

    The leave-one-out moments come from power sums of the centred values, so this is O(n).
    A leave-one-out sample without spread counts as skewness 0. Below 4 values the
    leave-one-out samples have no skewness and G1 is returned.
    """
    n = values.size
    if n < 4:
        return skewness(values)
    x = values - values.mean()  # centred: the power sums below lose no precision
    k = n - 1
    s1, s2, s3 = x.sum(), (x * x).sum(), (x**3).sum()
    m = (s1 - x) / k  # each leave-one-out mean
    raw2 = (s2 - x * x) / k
    raw3 = (s3 - x**3) / k
    m2 = raw2 - m * m
    m3 = raw3 - 3.0 * m * raw2 + 2.0 * m**3
    scale = max(float(np.max(np.abs(x))), 1e-300) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        loo = np.where(m2 > _TIE_TOLERANCE * scale, m3 / np.abs(m2) ** 1.5, 0.0)
    loo = loo * math.sqrt(k * (k - 1)) / (k - 2)
    return float(n * skewness(values) - k * loo.mean())


def mean_interval(
    values: Values, level: float = DEFAULT_LEVEL, bounds: Bounds | None = None
) -> Interval:
    """The package's interval for a mean over questions (see the module docstring)."""
    return MeanTest(values, bounds).interval(level)


def n_for_tied_verdict(
    value: float, threshold: float, bounds: Bounds, alpha: float, above: bool
) -> int | None:
    """Fewest questions at which n values all equal to `value` reject H0 at one-sided `alpha`.

    `above`: H0 is mean <= threshold (value > threshold); else mean >= threshold. This is the
    smallest n at which a verdict is attainable at all for a metric whose best case is that
    value, since every other sample with the same mean has a larger p-value only through its
    spread. None when no n does (the value is on the wrong side or at a bound's edge).
    """
    low, high = bounds
    if above:
        if value <= threshold:
            return None
        keep = 0.0 if threshold <= low else 1.0 - (value - threshold) / (value - low)
    else:
        if value >= threshold:
            return None
        keep = 0.0 if threshold >= high else 1.0 - (threshold - value) / (high - value)
    if keep <= 0.0:
        return 1
    return max(2, math.floor(math.log(alpha) / math.log(keep)) + 1)


# -- paired comparisons -----------------------------------------------------------------


@dataclass(frozen=True)
class PairedDifference:
    """Mean of paired differences (a - b) over questions, with its interval and tests."""

    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float  # two-sided, H0: mean difference = 0 (the same test as the interval)
    n_pairs: int
    level: float
    method: str = MEAN_METHOD


def paired_difference(
    a: Values,
    b: Values,
    level: float = DEFAULT_LEVEL,
    bounds: Bounds | None = DIFFERENCE,
) -> PairedDifference:
    """Compare paired measurements: interval and two-sided p of the mean difference a - b."""
    arr_a = np.asarray(a, dtype=float)
    arr_b = np.asarray(b, dtype=float)
    if arr_a.shape != arr_b.shape:
        raise ValueError(f"paired samples differ in length: {arr_a.size} vs {arr_b.size}")
    if arr_a.size == 0:
        raise ValueError("no paired samples to compare")
    test = MeanTest(arr_a - arr_b, bounds)
    interval = test.interval(level)
    return PairedDifference(
        mean_a=float(arr_a.mean()),
        mean_b=float(arr_b.mean()),
        difference=interval.estimate,
        ci_low=interval.low,
        ci_high=interval.high,
        p_value=min(1.0, 2.0 * min(test.p_greater(0.0), test.p_less(0.0))),
        n_pairs=int(arr_a.size),
        level=level,
    )


# -- multiplicity -------------------------------------------------------------------------


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values (step-down, family-wise error control under any dependence).

    NaN p-values (untested hypotheses) stay NaN and do not count towards the family.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    m = tested.size
    running = 0.0
    for rank, i in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


# -- the one bootstrap ------------------------------------------------------------------


def resample_indices(n: int, n_boot: int = DEFAULT_BOOTSTRAPS, seed: int = 0) -> np.ndarray:
    """(n_boot, n) indices drawn with replacement: one row per bootstrap resample."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def cluster_weights(
    clusters: Sequence[Hashable], n_boot: int = DEFAULT_BOOTSTRAPS, seed: int = 0
) -> np.ndarray:
    """(n_boot, rows) weights: how often each row's cluster was drawn in each resample."""
    if len(clusters) == 0:
        return np.zeros((n_boot, 0))
    _, index = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    n_clusters = int(index.max()) + 1
    counts = np.zeros((n_boot, n_clusters))
    draws = resample_indices(n_clusters, n_boot, seed)
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, index]


def percentile_interval(draws: np.ndarray, level: float = DEFAULT_LEVEL) -> tuple[float, float]:
    """Percentile interval of bootstrap draws, NaN draws left out (NaN, NaN if none)."""
    finite = np.asarray(draws, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(finite, alpha)), float(np.quantile(finite, 1.0 - alpha))


def cluster_bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    clusters: Sequence[Hashable],
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_BOOTSTRAPS,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile interval of a statistic over bootstrap resamples of whole clusters.

    `statistic(weights)` computes the statistic with one weight per row (how often the
    row's cluster was drawn); resamples where it is NaN (e.g. a class with no rows) are
    left out. NaN, NaN if there are no rows or every resample was NaN.
    """
    if len(clusters) == 0:
        return math.nan, math.nan
    weights = cluster_weights(clusters, n_boot, seed)
    return percentile_interval(np.array([statistic(w) for w in weights]), level)


# -- AUROC over clustered rows ------------------------------------------------------------


def auroc_interval(
    y: Sequence[int] | np.ndarray,
    scores: Values,
    clusters: Sequence[Hashable],
    level: float = DEFAULT_LEVEL,
) -> tuple[float, float]:
    """AUROC interval from the clustered Mann-Whitney variance, on the logit scale.

    Obuchowski's (1997) variance of the AUROC when rows come in clusters (several answers
    to one question): each row's placement value (the share of the other class it outranks,
    ties 1/2) is summed per cluster, and the variance is that of the clusters' sums, with the
    I / (I - 1) small-sample factor. The interval is Student's t with I - 1 degrees of
    freedom on logit(AUROC), which keeps it inside (0, 1) and gives it the AUROC's skew
    near 1; the percentile cluster bootstrap alone put its interval wholly above the truth
    4-9% of the time at 8-200 questions against a nominal 2.5% (calibration benchmark).
    When every placement is 0 or 1 there is no spread to estimate; the interval is then the
    exact rule for tied values over the I clusters (as in `MeanTest`).
    """
    y_arr = np.asarray(y, dtype=int)
    s_arr = np.asarray(scores, dtype=float)
    lies, honest = s_arr[y_arr == 1], s_arr[y_arr == 0]
    m, n = lies.size, honest.size
    if m == 0 or n == 0:
        return math.nan, math.nan
    honest_sorted, lies_sorted = np.sort(honest), np.sort(lies)
    # placement of each lie among the honest scores, and of each honest score among lies
    below = np.searchsorted(honest_sorted, lies, "left")
    tied = np.searchsorted(honest_sorted, lies, "right") - below
    v10 = (below + 0.5 * tied) / n
    above = m - np.searchsorted(lies_sorted, honest, "right")
    tied = np.searchsorted(lies_sorted, honest, "right") - np.searchsorted(lies_sorted, honest)
    v01 = (above + 0.5 * tied) / m
    auc = float(v10.mean())
    _, index = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    i = int(index.max()) + 1
    lie_idx, honest_idx = index[y_arr == 1], index[y_arr == 0]
    d10 = np.bincount(lie_idx, v10, i) - np.bincount(lie_idx, minlength=i) * auc
    d01 = np.bincount(honest_idx, v01, i) - np.bincount(honest_idx, minlength=i) * auc
    alpha = (1.0 - level) / 2.0
    if i < 2:
        return 0.0, 1.0
    factor = i / (i - 1)
    variance = factor * ((d10 @ d10) / m**2 + (d01 @ d01) / n**2 + 2.0 * (d10 @ d01) / (m * n))
    if not variance > 1e-24 or auc <= 0.0 or auc >= 1.0:
        return tied_values_interval(auc, PROBABILITY, i, alpha)
    q = float(_scipy_stats.t.ppf(1.0 - alpha, i - 1))
    center = math.log(auc / (1.0 - auc))
    half = q * math.sqrt(variance) / (auc * (1.0 - auc))
    return _expit(center - half), _expit(center + half)


def _expit(x: float) -> float:
    return float(1.0 / (1.0 + math.exp(-x)))


# -- seed families ----------------------------------------------------------------------


class SeedMeansTest:
    """The difference of two sides' seed means, with Welch's t over seeds.

    With 3-5 fine-tuning seeds a bootstrap underestimates the seed-to-seed variance (a
    resample of k values has (k - 1) / k of their variance, and few distinct values), which
    left family intervals covering 84-91% once questions were many (calibration benchmark).
    Welch's t with its Satterthwaite degrees of freedom carries the seed variance at its
    small-sample width. A side of one seed contributes no variance; when neither side has
    seed spread the test is silent (every p 0, a zero-width interval), leaving the verdict
    to the other tests of the hull.
    """

    def __init__(self, candidate_seeds: np.ndarray, baseline_seeds: np.ndarray) -> None:
        c = np.asarray(candidate_seeds, dtype=float)
        b = np.asarray(baseline_seeds, dtype=float)
        self.estimate = float(c.mean() - b.mean())
        parts = [x.var(ddof=1) / x.size for x in (c, b) if x.size > 1]
        dofs = [x.size - 1 for x in (c, b) if x.size > 1]
        variance = float(sum(parts))
        self.se = math.sqrt(variance)
        self.df = (
            variance**2 / sum(v * v / d for v, d in zip(parts, dofs)) if variance > 0 else math.inf
        )

    @property
    def silent(self) -> bool:
        return not self.se > 0

    def p_greater(self, threshold: float) -> float:
        if self.silent:
            return 0.0
        return float(_scipy_stats.t.sf((self.estimate - threshold) / self.se, self.df))

    def p_less(self, threshold: float) -> float:
        if self.silent:
            return 0.0
        return float(_scipy_stats.t.cdf((self.estimate - threshold) / self.se, self.df))

    def interval(self, level: float) -> tuple[float, float]:
        if self.silent:
            return self.estimate, self.estimate
        q = float(_scipy_stats.t.ppf(1.0 - (1.0 - level) / 2.0, self.df))
        return self.estimate - q * self.se, self.estimate + q * self.se


@dataclass(frozen=True)
class FamilyDifference:
    """Candidate - baseline where a side is several fine-tuning seeds of one model.

    Its tests and interval are the hull of two: the hierarchical bootstrap, which carries
    the seed-to-seed spread, and `MeanTest` on the per-question differences of the seed
    means, which carries the small-n and tied-values rules the percentile bootstrap lacks
    (a bootstrap of tied values has zero width). Each p-value is the larger of the two, so
    a verdict needs both to agree.
    """

    difference: float
    ci_low: float
    ci_high: float
    n_questions: int
    n_seeds: tuple[int, int]  # candidate, baseline
    per_seed: tuple[float, ...]  # each candidate seed's mean difference from the baseline
    level: float
    draws: np.ndarray  # the hierarchical bootstrap distribution of the difference
    question_test: MeanTest  # over the per-question differences of the seed means
    seed_test: SeedMeansTest  # Welch's t over the seeds' mean differences
    method: str = (
        "hierarchical bootstrap (seeds, then questions), hulled with the skewness-corrected t "
        "interval over questions and Welch's t over seeds"
    )

    def p_greater(self, threshold: float) -> float:
        """p of H0: difference <= threshold."""
        return max(
            _bootstrap_p(self.draws, lambda d: d <= threshold),
            self.question_test.p_greater(threshold),
            self.seed_test.p_greater(threshold),
        )

    def p_less(self, threshold: float) -> float:
        return max(
            _bootstrap_p(self.draws, lambda d: d >= threshold),
            self.question_test.p_less(threshold),
            self.seed_test.p_less(threshold),
        )

    @property
    def seed_spread(self) -> tuple[float, float]:
        return (min(self.per_seed), max(self.per_seed)) if self.per_seed else (math.nan,) * 2


def _bootstrap_p(draws: np.ndarray, in_null: Callable[[np.ndarray], np.ndarray]) -> float:
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return math.nan
    return float((1 + np.count_nonzero(in_null(finite))) / (finite.size + 1))


def family_difference(
    candidate: Sequence[Mapping[str, float]],
    baseline: Sequence[Mapping[str, float]],
    level: float = DEFAULT_LEVEL,
    n_boot: int = DEFAULT_BOOTSTRAPS,
    seed: int = 0,
    bounds: Bounds | None = DIFFERENCE,
) -> FamilyDifference:
    """Candidate seeds vs baseline seeds, paired over the questions every run scored.

    Each side's per-question value is its mean over its seeds. The hierarchical bootstrap
    resamples seeds within each side, then questions, so both the seed-to-seed spread
    (PROTOCOLS §0: results vary a lot between fine-tuning seeds) and the question sampling
    enter the interval.
    """
    if not candidate or not baseline:
        raise ValueError("each side needs at least one run")
    questions = sorted(set.intersection(*(set(r) for r in [*candidate, *baseline])))
    if not questions:
        raise ValueError("no question was scored by every run")
    cand = np.array([[run[q] for q in questions] for run in candidate], dtype=float)
    base = np.array([[run[q] for q in questions] for run in baseline], dtype=float)
    rng = np.random.default_rng(seed)
    n_q = len(questions)
    q_idx = rng.integers(0, n_q, size=(n_boot, n_q))
    c_idx = rng.integers(0, cand.shape[0], size=(n_boot, cand.shape[0]))
    b_idx = rng.integers(0, base.shape[0], size=(n_boot, base.shape[0]))
    draws = np.empty(n_boot)
    for k in range(n_boot):
        per_q = cand[c_idx[k]].mean(axis=0) - base[b_idx[k]].mean(axis=0)
        draws[k] = per_q[q_idx[k]].mean()
    base_mean = base.mean(axis=0)
    low, high = percentile_interval(draws, level)
    question_test = MeanTest(cand.mean(axis=0) - base_mean, bounds)
    by_question = question_test.interval(level)
    seed_test = SeedMeansTest(cand.mean(axis=1), base.mean(axis=1))
    seed_low, seed_high = seed_test.interval(level)
    return FamilyDifference(
        difference=float((cand.mean(axis=0) - base_mean).mean()),
        ci_low=min(low, by_question.low, seed_low),
        ci_high=max(high, by_question.high, seed_high),
        n_questions=n_q,
        n_seeds=(cand.shape[0], base.shape[0]),
        per_seed=tuple(float((row - base_mean).mean()) for row in cand),
        level=level,
        draws=draws,
        question_test=question_test,
        seed_test=seed_test,
    )
