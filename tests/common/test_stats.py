"""The statistics module: means over questions, the tests their intervals invert, Holm,
the one cluster bootstrap and seed families.

The coverage tests are small Monte Carlo runs with their error stated; the full
calibration (every shape, every n) is `benchmarks/bench_calibration.py`.
"""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
from scipy import stats as scipy_stats

from honesty_evals.common.stats import (
    DIFFERENCE,
    PROBABILITY,
    MeanTest,
    auroc_interval,
    cluster_bootstrap_ci,
    cluster_means,
    cluster_weights,
    family_difference,
    holm,
    jackknife_skewness,
    mean_interval,
    n_for_tied_verdict,
    paired_difference,
    percentile_interval,
    skewness,
    stderr,
)


def test_cluster_means_averages_within_clusters_in_first_seen_order():
    values = [1.0, 2.0, 3.0, 10.0, 0.5]
    clusters = ["q1", "q0", "q1", "q2", "q0"]
    np.testing.assert_allclose(cluster_means(values, clusters), [2.0, 1.25, 10.0])


def test_stderr_matches_hand_computation():
    values = [1.0, 2.0, 3.0, 4.0]
    assert stderr(values) == pytest.approx(statistics.stdev(values) / 2)
    assert math.isnan(stderr([0.7]))


# -- the interval over questions ------------------------------------------------------------


def test_symmetric_data_give_the_student_interval():
    values = [0.1, 0.3, 0.5, 0.7, 0.9]  # no skew: Hall's correction vanishes
    interval = mean_interval(values, bounds=PROBABILITY)
    q = scipy_stats.t.ppf(0.975, 4)
    se = statistics.stdev(values) / math.sqrt(5)
    assert interval.low == pytest.approx(0.5 - q * se)
    assert interval.high == pytest.approx(0.5 + q * se)


def test_skewed_data_widen_the_interval_on_the_long_side_only():
    values = [0.0, 0.0, 0.01, 0.02, 0.0, 0.05, 0.6, 0.0, 0.01, 0.03]  # right-skewed
    interval = mean_interval(values)
    q = scipy_stats.t.ppf(0.975, 9)
    mean, se = float(np.mean(values)), stderr(values)
    assert interval.low == pytest.approx(mean - q * se)  # never narrower than Student
    assert interval.high > mean + q * se + 0.01  # the long right tail widens the top


def test_jackknife_skewness_is_the_leave_one_out_bias_correction():
    values = np.random.default_rng(3).beta(0.5, 3.5, size=9)
    loo = [skewness(np.delete(values, i)) for i in range(9)]
    assert jackknife_skewness(values) == pytest.approx(9 * skewness(values) - 8 * np.mean(loo))
    assert skewness(values) == pytest.approx(scipy_stats.skew(values, bias=False))
    # a leave-one-out sample without spread counts as 0; under 4 values it is G1 itself
    g1_of_two_ties_and_a_one = math.sqrt(0.5) * math.sqrt(6)  # G1 of (0, 0, 1)
    assert jackknife_skewness(np.array([0.0, 0.0, 0.0, 1.0])) == pytest.approx(
        4 * 2.0 - 3 * (3 * g1_of_two_ties_and_a_one + 0.0) / 4
    )
    assert jackknife_skewness(np.array([0.0, 0.1, 0.7])) == skewness(np.array([0.0, 0.1, 0.7]))


def test_the_long_side_takes_the_larger_skewness_correction():
    # a sample whose jackknife skewness exceeds G1: the hull reaches further up than Hall
    # with G1 alone would
    values = np.array([0.09, 0.14, 0.12, 0.47, 0.25, 0.0, 0.16, 0.24, 0.01, 0.05, 0.05, 0.02])
    test = MeanTest(values, DIFFERENCE)
    assert jackknife_skewness(values) > skewness(values) > 0
    high = test.interval().high
    g1_only = MeanTest.__new__(MeanTest)
    g1_only.__dict__.update(test.__dict__)
    n = values.size
    g1_only._hall = (
        (skewness(values) / (3 * math.sqrt(n)), skewness(values) / (6 * math.sqrt(n))),
    )
    assert high > g1_only.interval().high + 0.1
    assert test.p_less(high) == pytest.approx(0.025)


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_interval_ends_are_where_the_one_sided_tests_reach_alpha(level):
    values = np.random.default_rng(4).beta(0.6, 3.0, size=12)
    test = MeanTest(values, PROBABILITY)
    interval = test.interval(level)
    alpha = (1 - level) / 2
    assert test.p_greater(interval.low) == pytest.approx(alpha, abs=1e-6)
    assert test.p_less(interval.high) == pytest.approx(alpha, abs=1e-6)
    # just inside the interval neither test rejects; just outside one does
    assert test.p_greater(interval.low + 1e-3) > alpha > test.p_greater(interval.low - 1e-3)
    assert test.p_less(interval.high - 1e-3) > alpha > test.p_less(interval.high + 1e-3)


def test_tied_zeros_give_the_clopper_pearson_bound_not_a_zero_width_interval():
    # 12 questions, all 0: the exact upper bound is 1 - 0.025 ** (1 / 12) (rule of three)
    interval = mean_interval([0.0] * 12, bounds=PROBABILITY)
    assert interval.low == 0.0
    assert interval.high == pytest.approx(1 - 0.025 ** (1 / 12))
    assert interval.high == pytest.approx(
        scipy_stats.binomtest(0, 12).proportion_ci(0.95, method="exact").high
    )


def test_tied_differences_scale_to_the_range_and_p_values_agree():
    test = MeanTest([0.0] * 20, DIFFERENCE)  # differences in [-1, 1], all 0
    interval = test.interval()
    reach = 1 - 0.025 ** (1 / 20)
    assert interval.high == pytest.approx(reach) and interval.low == pytest.approx(-reach)
    # H0 mean >= 0.2: the most likely way to see 20 zeros is mass 0.2 at +1
    assert test.p_less(0.2) == pytest.approx(0.8**20)
    assert test.p_greater(-0.2) == pytest.approx(0.8**20)


def test_tied_values_without_bounds_give_no_interval():
    interval = mean_interval([0.3, 0.3, 0.3])
    assert interval.low == -math.inf and interval.high == math.inf


def test_one_value_gives_no_interval_and_empty_gives_nan():
    assert not mean_interval([0.2, 0.2 + 1e-3][:1]).finite
    assert math.isnan(mean_interval([]).estimate)


def test_the_interval_stays_in_the_bounds():
    interval = mean_interval([0.98, 1.0, 0.99, 1.0], bounds=PROBABILITY)
    assert interval.high <= 1.0


def test_n_for_tied_verdict_matches_the_exact_rule():
    # all differences 0 pass "difference <= 0.2" once 0.8 ** n < 0.025: n = 17
    assert n_for_tied_verdict(0.0, 0.2, DIFFERENCE, 0.025, above=False) == 17
    assert 0.8**16 >= 0.025 > 0.8**17
    # and the interval agrees at that n
    assert mean_interval([0.0] * 17, bounds=DIFFERENCE).high < 0.2
    assert mean_interval([0.0] * 16, bounds=DIFFERENCE).high > 0.2
    # a value on the wrong side never gives the verdict
    assert n_for_tied_verdict(0.3, 0.2, DIFFERENCE, 0.025, above=False) is None


@pytest.mark.parametrize(
    "draw, truth",
    [
        (lambda rng, size: rng.normal(0.1, 0.15, size), 0.1),
        (lambda rng, size: rng.beta(0.6, 4.0, size), 0.6 / 4.6),
    ],
    ids=["normal", "skewed"],
)
def test_coverage_at_n8_is_near_95_percent(draw, truth):
    """1,500 simulated samples: Monte Carlo sd of the coverage is 0.0056, so +-0.025 is
    4.4 sd (the percentile bootstrap this replaced covered ~0.87 at n = 8)."""
    rng = np.random.default_rng(2026)
    hits = 0
    for _ in range(1500):
        interval = mean_interval(draw(rng, 8), bounds=DIFFERENCE)
        hits += interval.low <= truth <= interval.high
    assert abs(hits / 1500 - 0.95) < 0.025


def test_long_side_of_a_skewed_shape_misses_at_most_nominally_from_20_questions():
    """Beta(0.5, 3.5) (skewness 1.7) at n = 20, where gate verdicts start: the interval lies
    wholly below the mean at most 2.5% of the time; 4,000 draws (MC sd 0.0025). With G1
    alone (no jackknife) this was 2.8% in the calibration benchmark."""
    rng = np.random.default_rng(11)
    truth = 0.5 / 4.0
    below = sum(
        MeanTest(rng.beta(0.5, 3.5, 20), DIFFERENCE).p_less(truth) < 0.025 for _ in range(4000)
    )
    assert below / 4000 <= 0.025 + 2 * 0.0025


def test_false_pass_rate_on_rare_binary_events_is_at_most_nominal():
    """A candidate that names its trigger 20% of the time (on the threshold) must pass
    "rate <= 0.2" at most 2.5% of the time; 4,000 draws at n = 20 (MC sd 0.0025)."""
    rng = np.random.default_rng(7)
    passes = sum(
        MeanTest((rng.random(20) < 0.2).astype(float), PROBABILITY).p_less(0.2) < 0.025
        for _ in range(4000)
    )
    assert passes / 4000 <= 0.025 + 3 * 0.0025


# -- paired differences -----------------------------------------------------------------------


def test_paired_difference_identical_inputs_are_not_zero_width():
    a = list(np.random.default_rng(0).uniform(size=20))
    result = paired_difference(a, list(a))
    assert result.difference == 0.0
    assert result.ci_low < 0.0 < result.ci_high  # tied differences: the exact rule
    assert result.p_value == 1.0


def test_paired_difference_constant_shift_is_significant():
    b = np.random.default_rng(1).uniform(0, 0.5, size=30)
    result = paired_difference(b + 0.2, b)
    assert result.difference == pytest.approx(0.2)
    # 30 tied differences: the exact rule, not a zero-width interval, still shows a shift
    assert result.ci_low == pytest.approx(0.2 - 1.2 * (1 - 0.025 ** (1 / 30)))
    assert result.ci_low > 0.0 and result.p_value == pytest.approx(2 * (1 - 0.2 / 1.2) ** 30)
    noisy = paired_difference(b + 0.2 + np.random.default_rng(2).normal(0, 0.01, 30), b)
    assert noisy.ci_low > 0.19 and noisy.p_value < 1e-6


def test_paired_difference_p_value_agrees_with_the_interval():
    rng = np.random.default_rng(3)
    for _ in range(20):
        b = rng.uniform(size=8)
        a = np.clip(b + rng.normal(0.1, 0.2, size=8), 0, 1)
        result = paired_difference(a, b)
        excludes_zero = result.ci_low > 0 or result.ci_high < 0
        assert excludes_zero == (result.p_value < 0.05)


def test_paired_difference_errors():
    with pytest.raises(ValueError, match="differ in length"):
        paired_difference([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError):
        paired_difference([], [])


# -- Holm -----------------------------------------------------------------------------------


def test_holm_matches_the_step_down_definition():
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max(0.06, 0.04)=0.06
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_skips_untested_and_caps_at_one():
    adjusted = holm([0.5, math.nan, 0.6])
    assert math.isnan(adjusted[1])
    assert adjusted[0] == 1.0 and adjusted[2] == 1.0


# -- the one bootstrap ------------------------------------------------------------------------


def test_cluster_weights_resample_whole_clusters():
    weights = cluster_weights(["a", "a", "b", "c"], n_boot=50, seed=1)
    assert weights.shape == (50, 4)
    np.testing.assert_array_equal(weights[:, 0], weights[:, 1])  # rows of one question
    np.testing.assert_array_equal(weights.sum(axis=1) - weights[:, 1], np.full(50, 3.0))


def test_cluster_bootstrap_ci_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(5).uniform(size=30)
    clusters = [i // 3 for i in range(30)]

    def mean(w: np.ndarray) -> float:
        return float((w * values).sum() / w.sum())

    low, high = cluster_bootstrap_ci(mean, clusters, seed=3)
    assert low < values.mean() < high
    assert cluster_bootstrap_ci(mean, clusters, seed=3) == (low, high)
    assert math.isnan(percentile_interval(np.array([math.nan]))[0])


# -- seed families ----------------------------------------------------------------------------


def test_family_difference_carries_the_seed_spread():
    rng = np.random.default_rng(9)
    questions = [f"q{i}" for i in range(30)]
    base = [{q: float(v) for q, v in zip(questions, rng.uniform(0.3, 0.5, 30))}]
    seed_shifts = [0.0, 0.2, 0.4]  # three fine-tuning seeds that learned different amounts
    cand = [{q: base[0][q] + s for q in questions} for s in seed_shifts]
    family = family_difference(cand, base, seed=0)
    assert family.difference == pytest.approx(0.2)
    assert family.per_seed == pytest.approx(tuple(seed_shifts))
    # the question-only interval of the mean shift would be ~0 wide; seeds widen it
    assert family.ci_high - family.ci_low > 0.2
    assert family.n_seeds == (3, 1) and family.n_questions == 30
    # three seeds at 0, 0.2 and 0.4: Welch's t over the seeds (df 2) cannot tell the
    # family's mean shift from 0, although every question moved in two of the three seeds
    seed_p = scipy_stats.t.sf(0.2 / (0.2 / math.sqrt(3)), 2)
    assert family.p_greater(0.0) == pytest.approx(seed_p)
    assert family.ci_low < 0.0 < family.ci_high


def test_family_difference_pairs_on_questions_every_run_scored():
    cand = [{"a": 1.0, "b": 1.0}, {"a": 1.0, "c": 1.0}]
    base = [{"a": 0.0, "b": 0.0, "c": 0.0}]
    assert family_difference(cand, base).n_questions == 1
    with pytest.raises(ValueError, match="no question"):
        family_difference([{"a": 1.0}], [{"b": 0.0}])


def test_family_difference_of_tied_seeds_keeps_the_exact_rule():
    # three seeds, each +0.15 on all 6 questions: the bootstrap alone has zero width and
    # would call this a shift beyond 0.1; six tied questions cannot show that (p = 0.77)
    questions = [f"q{i}" for i in range(6)]
    base = [{q: 0.4 for q in questions}]
    cand = [{q: 0.55 for q in questions} for _ in range(3)]
    family = family_difference(cand, base)
    assert family.p_greater(0.1) == pytest.approx((1 - 0.05 / 1.15) ** 6)
    assert family.ci_low < 0.1 < family.ci_high


# -- AUROC ------------------------------------------------------------------------------------


def _obuchowski_by_hand(y, scores, clusters):
    """Obuchowski (1997) clustered AUROC variance, written out pair by pair."""
    lies = [(s, c) for s, t, c in zip(scores, y, clusters) if t == 1]
    honest = [(s, c) for s, t, c in zip(scores, y, clusters) if t == 0]
    m, n = len(lies), len(honest)

    def psi(a, b):
        return 1.0 if a > b else 0.5 if a == b else 0.0

    auc = sum(psi(a, b) for a, _ in lies for b, _ in honest) / (m * n)
    ids = sorted(set(clusters))
    v10 = {i: sum(psi(a, b) for a, c in lies if c == i for b, _ in honest) / n for i in ids}
    v01 = {i: sum(psi(a, b) for b, c in honest if c == i for a, _ in lies) / m for i in ids}
    mi = {i: sum(1 for _, c in lies if c == i) for i in ids}
    ni = {i: sum(1 for _, c in honest if c == i) for i in ids}
    k = len(ids)
    s10 = k / ((k - 1) * m) * sum((v10[i] - mi[i] * auc) ** 2 for i in ids)
    s01 = k / ((k - 1) * n) * sum((v01[i] - ni[i] * auc) ** 2 for i in ids)
    s11 = k / (k - 1) * sum((v10[i] - mi[i] * auc) * (v01[i] - ni[i] * auc) for i in ids)
    return auc, s10 / m + s01 / n + 2 * s11 / (m * n), k


def test_auroc_interval_is_the_clustered_variance_on_the_logit_scale():
    rng = np.random.default_rng(5)
    y = np.tile([1, 1, 0, 0, 0], 9)
    clusters = np.repeat([f"q{i}" for i in range(9)], 5)
    scores = np.round(rng.normal(0, 0.5, 45) + y + rng.normal(0, 1, 45), 1)  # with ties
    auc, variance, k = _obuchowski_by_hand(y, scores, clusters)
    half = scipy_stats.t.ppf(0.975, k - 1) * math.sqrt(variance) / (auc * (1 - auc))
    center = math.log(auc / (1 - auc))
    expected = (1 / (1 + math.exp(-(center - half))), 1 / (1 + math.exp(-(center + half))))
    assert auroc_interval(y, scores, clusters) == pytest.approx(expected)


def test_auroc_interval_of_perfect_separation_is_the_tied_rule_not_a_point():
    y = np.tile([1, 0], 20)
    low, high = auroc_interval(y, y * 2.0, np.repeat(np.arange(20), 2))
    assert (low, high) == pytest.approx((0.025 ** (1 / 20), 1.0))
