"""Statistics shared by every task: cluster-aware means, bootstrap intervals, paired tests.

Samples from one question (asked in several option orders, or sampled several times) are
not independent, so uncertainty is computed over *clusters* (questions): each cluster is
averaged first, and bootstraps resample whole clusters.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_BOOTSTRAPS = 2000


def cluster_means(values: Sequence[float], clusters: Sequence[Hashable]) -> np.ndarray:
    """Mean of the values in each cluster, in first-seen cluster order."""
    sums: dict[Hashable, float] = {}
    counts: dict[Hashable, int] = {}
    for value, cluster in zip(values, clusters):
        sums[cluster] = sums.get(cluster, 0.0) + float(value)
        counts[cluster] = counts.get(cluster, 0) + 1
    return np.array([sums[c] / counts[c] for c in sums], dtype=float)


def stderr(values: Sequence[float]) -> float:
    """Standard error of the mean (sample sd / sqrt n); NaN with fewer than 2 values."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2:
        return math.nan
    return float(arr.std(ddof=1) / math.sqrt(arr.size))


def bootstrap_ci(
    values: Sequence[float],
    level: float = 0.95,
    n_boot: int = DEFAULT_BOOTSTRAPS,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval for the mean of `values` (NaN, NaN if empty)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_boot, arr.size))
    means = arr[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


@dataclass(frozen=True)
class PairedDifference:
    """Mean of paired differences (a - b) over clusters, with interval and p-value."""

    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    n_pairs: int
    level: float


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    level: float = 0.95,
    n_boot: int = DEFAULT_BOOTSTRAPS,
    n_permutations: int = 10000,
    seed: int = 0,
) -> PairedDifference:
    """Compare paired measurements: bootstrap CI of the mean difference, sign-flip p-value.

    The p-value is two-sided for H0 "the differences are symmetric about 0" (a paired
    permutation test), with the +1 correction so it is never exactly 0.
    """
    arr_a = np.asarray(a, dtype=float)
    arr_b = np.asarray(b, dtype=float)
    if arr_a.shape != arr_b.shape:
        raise ValueError(f"paired samples differ in length: {arr_a.size} vs {arr_b.size}")
    diffs = arr_a - arr_b
    n = diffs.size
    if n == 0:
        raise ValueError("no paired samples to compare")
    low, high = bootstrap_ci(diffs, level=level, n_boot=n_boot, seed=seed)
    observed = abs(diffs.mean())
    rng = np.random.default_rng(seed + 1)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_permutations, n))
    permuted = np.abs((signs * diffs).mean(axis=1))
    p_value = (1 + int((permuted >= observed - 1e-12).sum())) / (n_permutations + 1)
    return PairedDifference(
        mean_a=float(arr_a.mean()),
        mean_b=float(arr_b.mean()),
        difference=float(diffs.mean()),
        ci_low=low,
        ci_high=high,
        p_value=float(p_value),
        n_pairs=n,
        level=level,
    )


def cluster_bootstrap_ci(
    statistic: Callable[[np.ndarray], float],
    clusters: Sequence[Hashable],
    level: float = 0.95,
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
    _, index = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    n_clusters = int(index.max()) + 1
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        counts = rng.multinomial(n_clusters, np.full(n_clusters, 1.0 / n_clusters))
        values[b] = statistic(counts[index].astype(float))
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1.0 - alpha))
