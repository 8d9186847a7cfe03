"""Cluster means, standard errors, bootstrap intervals and the paired sign-flip test."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest

from honesty_evals.common.stats import bootstrap_ci, cluster_means, paired_difference, stderr


def test_cluster_means_averages_within_clusters_in_first_seen_order():
    values = [1.0, 2.0, 3.0, 10.0, 0.5]
    clusters = ["q1", "q0", "q1", "q2", "q0"]
    # q1: (1 + 3) / 2 = 2; q0: (2 + 0.5) / 2 = 1.25; q2: 10
    np.testing.assert_allclose(cluster_means(values, clusters), [2.0, 1.25, 10.0])


def test_cluster_means_empty():
    assert cluster_means([], []).size == 0


def test_stderr_matches_hand_computation():
    values = [1.0, 2.0, 3.0, 4.0]
    # sample variance: (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3
    expected = math.sqrt(5 / 3) / math.sqrt(4)
    assert stderr(values) == pytest.approx(expected)
    assert stderr(values) == pytest.approx(statistics.stdev(values) / 2)


@pytest.mark.parametrize("values", [[], [0.7]])
def test_stderr_is_nan_below_two_values(values):
    assert math.isnan(stderr(values))


def test_stderr_of_constant_values_is_zero():
    assert stderr([0.5] * 10) == 0.0


def test_bootstrap_ci_contains_the_mean():
    values = np.random.default_rng(123).normal(0.3, 1.0, size=50)
    low, high = bootstrap_ci(values)
    assert low < float(np.mean(values)) < high


def test_bootstrap_ci_of_two_points_spans_both():
    # resampling [0, 1] twice: the mean is 0 w.p. 1/4, 0.5 w.p. 1/2, 1 w.p. 1/4, so the
    # 2.5% and 97.5% quantiles of the bootstrap means are 0 and 1
    assert bootstrap_ci([0.0, 1.0]) == (0.0, 1.0)


def test_bootstrap_ci_narrows_with_n():
    rng = np.random.default_rng(7)
    small = rng.normal(size=25)
    large = rng.normal(size=400)
    width_small = np.subtract(*bootstrap_ci(small)[::-1])
    width_large = np.subtract(*bootstrap_ci(large)[::-1])
    # width scales ~ 1/sqrt(n): expect about a quarter; allow generous slack
    assert width_large < 0.5 * width_small


def test_bootstrap_ci_narrows_with_level():
    values = np.random.default_rng(3).normal(size=40)
    low95, high95 = bootstrap_ci(values, level=0.95)
    low50, high50 = bootstrap_ci(values, level=0.50)
    assert low95 < low50 < high50 < high95


def test_bootstrap_ci_is_deterministic_for_a_seed():
    values = np.random.default_rng(5).uniform(size=30)
    assert bootstrap_ci(values, seed=11) == bootstrap_ci(values, seed=11)
    assert bootstrap_ci(values, seed=11) != bootstrap_ci(values, seed=12)


def test_bootstrap_ci_edge_cases():
    low, high = bootstrap_ci([])
    assert math.isnan(low) and math.isnan(high)
    assert bootstrap_ci([0.25] * 7) == (0.25, 0.25)


def test_paired_difference_identical_inputs():
    a = list(np.random.default_rng(0).uniform(size=20))
    result = paired_difference(a, list(a))
    assert result.difference == 0.0
    assert result.ci_low == 0.0 and result.ci_high == 0.0
    # every sign flip of an all-zero difference is as extreme as the observed one
    assert result.p_value == 1.0
    assert result.n_pairs == 20
    assert result.mean_a == pytest.approx(result.mean_b)


def test_paired_difference_constant_shift_is_significant():
    b = np.random.default_rng(1).uniform(0, 0.5, size=30)
    a = b + 0.2
    result = paired_difference(a, b)
    assert result.difference == pytest.approx(0.2)
    assert result.mean_a == pytest.approx(float(np.mean(b)) + 0.2)
    assert result.mean_b == pytest.approx(float(np.mean(b)))
    # only the two all-same-sign flips (prob 2 / 2**30) are as extreme: p is the +1 floor
    assert result.p_value < 0.001
    assert result.ci_low > 0.0
    assert result.ci_low <= result.difference <= result.ci_high
    assert result.n_pairs == 30
    assert result.level == 0.95


def test_paired_difference_negative_shift_is_two_sided():
    b = np.random.default_rng(2).uniform(size=30)
    result = paired_difference(b - 0.3, b)
    assert result.difference == pytest.approx(-0.3)
    assert result.p_value < 0.001
    assert result.ci_high < 0.0


def test_paired_difference_sign_flip_p_value_for_three_pairs():
    # differences (1, 1, 1): |mean of sign-flipped| >= 1 only when all three signs agree,
    # which happens with probability 2 / 8 = 0.25
    result = paired_difference([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], n_permutations=20000)
    assert result.p_value == pytest.approx(0.25, abs=0.02)


def test_paired_difference_length_mismatch_raises():
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([0.1, 0.2, 0.3], [0.1, 0.2])


def test_paired_difference_empty_raises():
    with pytest.raises(ValueError):
        paired_difference([], [])
