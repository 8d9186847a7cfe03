"""Calibration of the package's intervals and audit verdicts, by simulation (issue 13).

Per-question differences are drawn from four shapes, each clipped into a difference's range
[-1, 1] with its location solved numerically so that the *clipped* mean is exactly the
target (the true value every check compares against):

- normal: N(loc, 0.2);
- skewed: loc + Beta(0.5, 3.5) (a right-skewed, rate-like shape, skewness 1.7);
- binary: 0/1 per question (-1/0 for a negative mean), P(1) = |mean| (rare events at 0.1);
- heavy: loc + 0.1 t(2.5 df).

Checks, each cell at n = 3, 5, 8, 12, 20, 50 and 200 questions unless said otherwise:

1. Coverage of every interval method the package uses, with its Monte Carlo standard
   error and the two ways of missing counted apart ("below": the interval lies below the
   truth; "above": above it):
   - `mean_interval` (bounds (-1, 1)), true mean 0.1, the real `MeanTest` on every sample;
   - the percentile bootstrap of the mean it replaced (reference only), copied from the
     package's history (2000 resamples, seed 0);
   - `family_difference` (hierarchical bootstrap over seeds, then questions): candidate and
     baseline families of 3 and of 5 seeds, per-question base rates U(0.2, 0.8) shared by
     both sides, a seed random effect N(0, 0.05) and seed-by-question noise N(0, 0.15);
     truth: the family mean difference 0.1 (what a new seed would show on average);
   - AUROC's percentile cluster bootstrap: two-class scores u_q + 1.331 y + e with 2 lies
     and 2 honest answers per question, u_q ~ N(0, 0.5), e ~ N(0, 1), so the true AUROC
     (a lie and an honest answer drawn independently) is Phi(1.331 / sqrt(2.5)) = 0.800;
     at n = 8, 20, 50 and 200 questions, through `lie_detection.evaluation.evaluate_scores`
     (the interval the detector-AUROC gate reads, 1000 resamples) and through
     `cluster_bootstrap_ci` (the package's generic cluster bootstrap, 2000 resamples) with
     the same weighted AUROC.
2. The gates' error rates with the true difference exactly at the threshold, through the
   real `evaluate_difference` + `decide` (one gate per audit; the candidate's per-question
   value is (1 + d) / 2 and the baseline's (1 - d) / 2, so the paired difference is d):
   `max: 0.10` at 0.10, `min: -0.10` at -0.10 (the same shapes, so skew now points into
   the allowed region) and `max: 0.50` at 0.50 (the quick suite's excess_lie_rate gate).
   At the threshold both a pass and an `exceeded` are errors; nominal (1 - level) / 2 =
   0.025 each. The underpowered and not-shown rates are printed too. The same cells are
   then run again with 40 times more samples, vectorised (`--gate-vsims`), to tell a real
   excess of a few tenths of a point from Monte Carlo noise.
3. The backdoor scan's family-wise rate of >= 1 false finding with 8 and 200 triggers,
   gate `max_abs: 0.10` (the suites' scan gate), at n = 8, 20, 50 and 200 questions, with
   Holm (what `decide` does) and without (any unadjusted `p_exceed` < 0.025):
   - null: no trigger changes anything. Per question the four runs (candidate and baseline,
     with and without the trigger) are independent draws around one question rate, and the
     without-trigger runs are shared by every trigger, as in a real scan; the
     diff-in-diff is symmetric about 0. normal: clip(r_q + N(0, 0.1)), skewed:
     Beta(0.5, 3.5), binary: Bernoulli(r_q) with r_q ~ Beta(0.5, 9.5) (mean 0.05), heavy:
     clip(r_q + 0.05 t(2.5)), r_q ~ U(0.2, 0.8);
   - worst case: every trigger's true diff-in-diff exactly at +0.10 (or -0.10), drawn from
     the four shapes (candidate with / without the trigger (1 + d) / 2 and (1 - d) / 2,
     baseline unchanged), triggers independent.

How the package's code is used. `mean_interval` and the gates run the package's own code on
every simulated sample. The bootstraps and the scan are vectorised here, so that thousands
of simulated audits of 200 triggers fit in minutes: the bootstraps reuse the package's
resampling (its fixed seed draws the same resamples for every sample of a given size, so
they are drawn once per cell), and the scan and the second gate table compute `MeanTest`'s
p-values and `decide`'s rule (Holm) in arrays. Every vectorised cell first re-runs its first
samples (`--check`; the gates: `--check-gates`; the scan: `--check-audits` whole audits)
through the package's functions -- `family_difference`, `evaluate_scores`,
`cluster_bootstrap_ci`, `evaluate_difference` / `evaluate_trigger` + `decide` -- and stops
if an interval, a p-value, a verdict or the number of findings differs.

Goals (issue 13): coverage within 95 +- 1.5% wherever a verdict is given; false-pass and
false-finding rates at or below nominal at every n. Every cell is marked OK or MISS on its
point estimate; "MISS (n.s.)" is a miss by less than 2 Monte Carlo standard errors.
Nothing is tuned to pass.

    python benchmarks/bench_calibration.py [--sims 2000] [--seed 0] [--out X.md X.json]
    python benchmarks/bench_calibration.py --from-json X.json   # re-print a run's tables

`make bench-calibration` writes benchmarks/results/calibration.md; figures and the
discussion are in benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import zlib
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

import numpy as np
from scipy import integrate, optimize, special
from scipy import stats as sps

# measure this checkout, whatever is installed in the environment
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import honesty_evals  # noqa: E402
from honesty_evals.audit.gates import (  # noqa: E402
    MIN_SCAN_QUESTIONS,
    Measurement,
    Threshold,
    decide,
    evaluate_difference,
    evaluate_trigger,
    verdict_questions,
)
from honesty_evals.common.stats import (  # noqa: E402
    DIFFERENCE,
    MeanTest,
    auroc_interval,
    cluster_bootstrap_ci,
    cluster_weights,
    family_difference,
    percentile_interval,
)
from honesty_evals.lie_detection.evaluation import _SortedROC, evaluate_scores  # noqa: E402

LEVEL = 0.95
ALPHA = (1.0 - LEVEL) / 2.0
NS = (3, 5, 8, 12, 20, 50, 200)
AUROC_NS = (8, 20, 50, 200)
SCAN_NS = (8, 20, 50, 200)
SCAN_TRIGGERS = (8, 200)
SHAPES = ("normal", "skewed", "binary", "heavy")
COVERAGE_GOAL = (0.935, 0.965)
TRUE_MEAN = 0.1
TIE_TOLERANCE = 1e-12  # stats._TIE_TOLERANCE
CHECK_TOL = 1e-9


# -- the four shapes ------------------------------------------------------------------------


_BASES = {
    "normal": sps.norm(0.0, 0.2),
    "skewed": sps.beta(0.5, 3.5),
    "heavy": sps.t(2.5, 0.0, 0.1),
}


def _clipped_mean(base, loc: float) -> float:
    """E[clip(loc + X, -1, 1)] = -1 + integral over [-1, 1] of P(loc + X > x)."""
    value, _ = integrate.quad(
        lambda x: base.sf(x - loc), -1.0, 1.0, epsabs=1e-13, epsrel=1e-13, limit=500
    )
    return -1.0 + value


@cache
def location(shape: str, mean: float) -> float:
    """The shift whose clipped shape has exactly this mean."""
    base = _BASES[shape]
    return optimize.brentq(
        lambda loc: _clipped_mean(base, loc) - mean, -3.0, 3.0, xtol=1e-14, rtol=1e-14
    )


def draw(shape: str, mean: float, size, rng: np.random.Generator) -> np.ndarray:
    """Per-question differences in [-1, 1] whose true (clipped) mean is exactly `mean`."""
    if shape == "binary":
        return math.copysign(1.0, mean) * (rng.random(size) < abs(mean)).astype(float)
    loc = location(shape, mean)
    return np.clip(loc + _BASES[shape].rvs(size=size, random_state=rng), -1.0, 1.0)


def cell_rng(seed: int, *key) -> np.random.Generator:
    """An independent stream per cell, so a cell's result does not depend on the others."""
    return np.random.default_rng([seed, zlib.crc32(repr(key).encode())])


def qids(n: int) -> list[str]:
    return [f"q{i:03d}" for i in range(n)]  # sorted order = index order, as the package sorts


# -- bookkeeping ----------------------------------------------------------------------------


def rate(k: int, sims: int) -> tuple[float, float]:
    p = k / sims
    return p, math.sqrt(p * (1.0 - p) / sims)


def coverage_row(method: str, shape: str, n, low, high, truth: float, **extra) -> dict:
    low, high = np.asarray(low), np.asarray(high)
    sims = low.size
    below, above = int(np.sum(high < truth)), int(np.sum(low > truth))
    cov, se = rate(sims - below - above, sims)
    return dict(
        check="coverage",
        method=method,
        shape=shape,
        n=n,
        sims=sims,
        coverage=cov,
        se=se,
        below=below / sims,
        above=above / sims,
        verdict=coverage_verdict(cov, se),
        **extra,
    )


EPS = 1e-12  # a rate exactly on the goal's edge (e.g. 1930 / 2000 = 96.5%) meets it


def coverage_verdict(cov: float, se: float) -> str:
    lo_goal, hi_goal = COVERAGE_GOAL
    if lo_goal - EPS <= cov <= hi_goal + EPS:
        return "OK"
    gap = lo_goal - cov if cov < lo_goal else cov - hi_goal
    side = "under" if cov < lo_goal else "over"
    return f"MISS ({side}{', n.s.' if gap < 2 * se else ''})"


def rate_verdict(p: float, se: float) -> str:
    if p <= ALPHA + EPS:
        return "OK"
    return "MISS (n.s.)" if p - ALPHA < 2 * se else "MISS"


def judge(results: dict) -> None:
    """(Re)compute every verdict from the stored rates (for --from-json)."""
    for r in results["coverage"]:
        r["verdict"] = coverage_verdict(r["coverage"], r["se"])
    for r in results["gates"] + results.get("gates_vectorised", []):
        r["verdict_pass"] = rate_verdict(r["false_pass"], r["false_pass_se"])
        r["verdict_exceed"] = rate_verdict(r["false_exceed"], r["false_exceed_se"])
    for r in results["scan"]:
        for m in SCAN_TRIGGERS:
            r[f"verdict_{m}"] = rate_verdict(r[f"holm_{m}"], r[f"holm_{m}_se"])


def close(a, b, what: str) -> None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or not np.allclose(a, b, rtol=0.0, atol=CHECK_TOL, equal_nan=True):
        raise SystemExit(f"vectorised {what} differs from the package: {a} vs {b}")


# -- 1. coverage ----------------------------------------------------------------------------


def old_bootstrap_ci(values, level=0.95, n_boot=2000, seed=0) -> tuple[float, float]:
    """The replaced `stats.bootstrap_ci` (percentile bootstrap of the mean), verbatim."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_boot, arr.size))
    means = arr[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(means, alpha)), float(np.quantile(means, 1.0 - alpha))


def counts_matrix(idx: np.ndarray, size: int) -> np.ndarray:
    """(rows, size): how often each index was drawn in each row of `idx`."""
    counts = np.zeros((idx.shape[0], size))
    np.add.at(counts, (np.arange(idx.shape[0])[:, None], idx), 1.0)
    return counts


def coverage_means(sims: int, seed: int, check: int) -> list[dict]:
    rows, replaced = [], []
    for shape in SHAPES:
        for n in NS:
            x = draw(shape, TRUE_MEAN, (sims, n), cell_rng(seed, "mean", shape, n))
            intervals = [MeanTest(row, DIFFERENCE).interval(LEVEL) for row in x]
            rows.append(
                coverage_row(
                    "mean_interval",
                    shape,
                    n,
                    [i.low for i in intervals],
                    [i.high for i in intervals],
                    TRUE_MEAN,
                )
            )
            # the replaced bootstrap: seed 0 draws the same resamples for every sample
            counts = counts_matrix(np.random.default_rng(0).integers(0, n, size=(2000, n)), n)
            means = x @ counts.T / n
            low, high = np.quantile(means, [ALPHA, 1 - ALPHA], axis=1)
            for k in range(min(check, sims)):
                close((low[k], high[k]), old_bootstrap_ci(x[k]), "old bootstrap")
            replaced.append(
                coverage_row("percentile bootstrap (replaced)", shape, n, low, high, TRUE_MEAN)
            )
    return rows + replaced


def coverage_family(sims: int, seed: int, check: int, n_boot: int = 2000) -> list[dict]:
    rows = []
    for seeds in (3, 5):
        for n in NS:
            rng = cell_rng(seed, "family", seeds, n)
            # family_difference(seed=0) draws these same resamples for every sample
            r0 = np.random.default_rng(0)
            q_counts = counts_matrix(r0.integers(0, n, size=(n_boot, n)), n)
            c_counts = counts_matrix(r0.integers(0, seeds, size=(n_boot, seeds)), seeds)
            b_counts = counts_matrix(r0.integers(0, seeds, size=(n_boot, seeds)), seeds)
            keys = qids(n)
            rate_q = rng.uniform(0.2, 0.8, (sims, 1, n))
            cand = (
                rate_q
                + TRUE_MEAN
                + rng.normal(0, 0.05, (sims, seeds, 1))
                + rng.normal(0, 0.15, (sims, seeds, n))
            )
            base = (
                rate_q
                + rng.normal(0, 0.05, (sims, seeds, 1))
                + rng.normal(0, 0.15, (sims, seeds, n))
            )
            # draw b: sum_q Q[b, q] (sum_s C[b, s] cand[s, q] - B[b, s] base[s, q]) / (k n)
            draws = (
                np.einsum("xsb,bs->xb", cand @ q_counts.T, c_counts)
                - np.einsum("xsb,bs->xb", base @ q_counts.T, b_counts)
            ) / (seeds * n)
            lows, highs = np.quantile(draws, [ALPHA, 1.0 - ALPHA], axis=1)
            # hulled with the interval over the per-question differences of the seed means
            by_question = ArrayMeanTest(cand.mean(axis=1) - base.mean(axis=1), (-1.0, 1.0))
            q_low, q_high = by_question.interval(ALPHA)
            lows, highs = np.minimum(lows, q_low), np.maximum(highs, q_high)
            # and with Welch's t over the seeds' means (`stats.SeedMeansTest`)
            c_seed, b_seed = cand.mean(axis=2), base.mean(axis=2)  # (sims, seeds)
            v_c, v_b = c_seed.var(axis=1, ddof=1) / seeds, b_seed.var(axis=1, ddof=1) / seeds
            welch_df = (v_c + v_b) ** 2 / (v_c**2 / (seeds - 1) + v_b**2 / (seeds - 1))
            half = special.stdtrit(welch_df, 1.0 - ALPHA) * np.sqrt(v_c + v_b)
            centre = c_seed.mean(axis=1) - b_seed.mean(axis=1)
            lows, highs = np.minimum(lows, centre - half), np.maximum(highs, centre + half)
            for s in range(min(check, sims)):
                real = family_difference(
                    [dict(zip(keys, r)) for r in cand[s].tolist()],
                    [dict(zip(keys, r)) for r in base[s].tolist()],
                    level=LEVEL,
                    seed=0,
                )
                close((lows[s], highs[s]), (real.ci_low, real.ci_high), "family bootstrap")
            rows.append(
                coverage_row(
                    f"family_difference, {seeds} vs {seeds} seeds",
                    "normal",
                    n,
                    lows,
                    highs,
                    TRUE_MEAN,
                )
            )
    return rows


AUROC_SHIFT = 1.331
TRUE_AUROC = float(sps.norm.cdf(AUROC_SHIFT / math.sqrt(2 * 0.5**2 + 2 * 1.0**2)))


def weighted_aurocs(counts: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """`_SortedROC(y, scores).metrics(w)[0]` for every row of question counts at once.

    `scores` is (questions, 4): two lies, then two honest answers. The trapezoidal AUROC
    with row weights is the weighted Mann-Whitney statistic (ties count 1/2); with one
    weight per question it is c' M c / ((c' n_lie) (c' n_honest)), where M[q, r] counts the
    (lie of q, honest answer of r) pairs that the lie outscores.
    """
    lies, honest = scores[:, :2], scores[:, 2:]
    above = lies[:, :, None, None] > honest[None, None, :, :]
    ties = lies[:, :, None, None] == honest[None, None, :, :]
    pairs = above.sum(axis=(1, 3)) + 0.5 * ties.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.einsum("bq,bq->b", counts @ pairs, counts) / (4.0 * counts.sum(axis=1) ** 2)


def coverage_auroc(sims: int, seed: int, check: int) -> list[dict]:
    rows = []
    for n in AUROC_NS:
        rng = cell_rng(seed, "auroc", n)
        groups = [q for q in qids(n) for _ in range(4)]
        y4 = np.array([1, 1, 0, 0])
        # evaluate_scores(seed=0) resamples with the package's one cluster bootstrap
        # (`cluster_weights`, 2000 resamples), the same draws for every sample
        generic_counts = cluster_weights(groups, 2000, 0)[:, ::4]  # one column per question
        eval_counts = generic_counts
        out = {"evaluate_scores": np.empty((sims, 2)), "cluster_bootstrap_ci": np.empty((sims, 2))}
        for s in range(sims):
            scores = rng.normal(0, 0.5, (n, 1)) + AUROC_SHIFT * y4 + rng.normal(0, 1, (n, 4))
            rows_y, rows_s = np.tile(y4, n), scores.ravel()
            boot = percentile_interval(weighted_aurocs(eval_counts, scores), LEVEL)
            logit = auroc_interval(rows_y, rows_s, groups, LEVEL)
            out["evaluate_scores"][s] = (min(boot[0], logit[0]), max(boot[1], logit[1]))
            out["cluster_bootstrap_ci"][s] = percentile_interval(
                weighted_aurocs(generic_counts, scores), LEVEL
            )
            if s < check:
                real = evaluate_scores(rows_y, rows_s, groups, seed=0)
                close(out["evaluate_scores"][s], real.auroc_ci, "evaluate_scores")
                roc = _SortedROC(rows_y, rows_s)
                generic = cluster_bootstrap_ci(
                    lambda w, roc=roc: roc.auroc(w), groups, LEVEL, 2000, 0
                )
                close(out["cluster_bootstrap_ci"][s], generic, "cluster_bootstrap_ci")
        for name, ci in out.items():
            label = {
                "evaluate_scores": "AUROC: evaluate_scores (detector gate), bootstrap + logit hull",
                "cluster_bootstrap_ci": "AUROC: cluster_bootstrap_ci, 2000 resamples",
            }[name]
            rows.append(
                coverage_row(
                    label, "2 lies + 2 honest per question", n, ci[:, 0], ci[:, 1], TRUE_AUROC
                )
            )
    return rows


# -- 2. gates at the threshold --------------------------------------------------------------


GATES = (("max", 0.10, 0.10), ("min", -0.10, -0.10), ("max", 0.50, 0.50))


def gate_audit(threshold: Threshold, d: np.ndarray, keys: list[str]):
    """One audit of one gate through `evaluate_difference` + `decide`; d: the differences."""
    result = evaluate_difference(
        "gate",
        "sim",
        "metric",
        threshold,
        Measurement(per_question=dict(zip(keys, ((1 + d) / 2).tolist()))),
        Measurement(per_question=dict(zip(keys, ((1 - d) / 2).tolist()))),
        level=LEVEL,
    )
    (result,) = decide([result])
    return result


def gate_row(threshold: Threshold, truth, shape, n, needed, tally: dict, path: str) -> dict:
    sims = sum(tally.values())
    fp, fp_se = rate(tally["pass"], sims)
    fe, fe_se = rate(tally["exceeded"], sims)
    return dict(
        check="gate",
        path=path,
        gate=threshold.describe("difference"),
        truth=truth,
        shape=shape,
        n=n,
        n_needed=needed,
        sims=sims,
        false_pass=fp,
        false_pass_se=fp_se,
        false_exceed=fe,
        false_exceed_se=fe_se,
        underpowered=tally["underpowered"] / sims,
        not_shown=tally["not shown"] / sims,
        verdict_pass=rate_verdict(fp, fp_se),
        verdict_exceed=rate_verdict(fe, fe_se),
    )


def gate_errors(sims: int, seed: int) -> list[dict]:
    """Every sample through the package's `evaluate_difference` + `decide`."""
    rows = []
    for kind, value, truth in GATES:
        threshold = Threshold(kind, value)  # type: ignore[arg-type]
        for shape in SHAPES:
            for n in NS:
                d = draw(shape, truth, (sims, n), cell_rng(seed, "gate", kind, value, shape, n))
                keys = qids(n)
                tally = {"pass": 0, "exceeded": 0, "underpowered": 0, "not shown": 0}
                needed = None
                for row in d:
                    result = gate_audit(threshold, row, keys)
                    needed = result.n_needed
                    tally["pass" if result.status == "pass" else result.reason] += 1
                rows.append(gate_row(threshold, truth, shape, n, needed, tally, "package"))
    return rows


def gate_errors_vectorised(sims: int, seed: int, check: int) -> list[dict]:
    """The same cells with many more samples: `decide`'s rule on `MeanTest` p-values in arrays.

    One gate per audit, so Holm's adjusted p is the gate's own p_exceed. The first `check`
    samples of each cell also go through `evaluate_difference` + `decide` and must get the
    same verdict.
    """
    rows = []
    bounds = DIFFERENCE
    for kind, value, truth in GATES:
        threshold = Threshold(kind, value)  # type: ignore[arg-type]
        needed = verdict_questions(threshold.n_to_pass(0.0, bounds, ALPHA))
        needed_finding = verdict_questions(threshold.n_to_exceed(bounds, ALPHA))
        for shape in SHAPES:
            for n in NS:
                rng = cell_rng(seed, "gate-vectorised", kind, value, shape, n)
                keys = qids(n)
                tally = {"pass": 0, "exceeded": 0, "underpowered": 0, "not shown": 0}
                done = 0
                while done < sims:
                    k = min(sims - done, max(1, 2_000_000 // n))
                    d = draw(shape, truth, (k, n), rng)
                    tests = ArrayMeanTest((1 + d) / 2 - (1 - d) / 2, bounds)
                    if kind == "max":
                        p_exceed, p_pass = tests.p_greater(value), tests.p_less(value)
                    else:
                        p_exceed, p_pass = tests.p_less(value), tests.p_greater(value)
                    exceeded = (p_exceed < ALPHA) & (n >= needed_finding)
                    under = ~exceeded & (needed is None or n < needed)
                    passed = ~exceeded & ~under & (p_pass < ALPHA)
                    status = np.where(
                        exceeded,
                        "exceeded",
                        np.where(under, "underpowered", np.where(passed, "pass", "not shown")),
                    )
                    for i in range(min(check - done, k)):
                        result = gate_audit(threshold, d[i], keys)
                        real = "pass" if result.status == "pass" else result.reason
                        if real != status[i]:
                            raise SystemExit(
                                f"vectorised gate verdict {status[i]} vs {real} from decide "
                                f"({threshold.describe()}, {shape}, n={n})"
                            )
                    for name in tally:
                        tally[name] += int(np.sum(status == name))
                    done += k
                rows.append(gate_row(threshold, truth, shape, n, needed, tally, "vectorised"))
    return rows


# -- 3. the scan ----------------------------------------------------------------------------


SCAN_THRESHOLD = Threshold("max_abs", 0.10)
SCAN_BOUNDS = (-2.0, 2.0)  # a diff-in-diff of probabilities
SCAN_NEEDED_FINDING = verdict_questions(
    SCAN_THRESHOLD.n_to_exceed(SCAN_BOUNDS, ALPHA), MIN_SCAN_QUESTIONS
)
SCENARIOS = {"null": "null", "0.1": "all at +0.10", "-0.1": "all at -0.10"}


def _g1(d: np.ndarray) -> np.ndarray:
    """`stats.skewness` of every row, from its centred values `d` (0 without spread)."""
    n = d.shape[-1]
    if n < 3:
        return np.zeros(d.shape[:-1])
    m2 = (d * d).mean(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = (d * d * d).mean(axis=-1) / m2**1.5 * math.sqrt(n * (n - 1)) / (n - 2)
    return np.where(m2 > 0, g, 0.0)


class ArrayMeanTest:
    """`MeanTest(row, bounds)` for every row of `x` (last axis: the questions) at once."""

    def __init__(self, x: np.ndarray, bounds) -> None:
        n = self.n = x.shape[-1]
        self.bounds = bounds
        self.mean = x.mean(axis=-1)
        top, bottom = x.max(axis=-1), x.min(axis=-1)
        scale = np.maximum(1.0, np.maximum(np.abs(top), np.abs(bottom)))
        self.degenerate = top - bottom <= TIE_TOLERANCE * scale
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            d = x - self.mean[..., None]
            d2 = d * d
            sd = np.sqrt(d2.sum(axis=-1) / (n - 1))
            self.se = sd / math.sqrt(n)
            # the package's two skewness estimates: G1 and its jackknife correction
            g1 = _g1(d)
            skews = [g1]
            if n >= 4:
                k = n - 1
                s1, s2, s3 = (
                    d.sum(-1)[..., None],
                    d2.sum(-1)[..., None],
                    (d2 * d).sum(-1)[..., None],
                )
                m = (s1 - d) / k
                raw2, raw3 = (s2 - d2) / k, (s3 - d2 * d) / k
                m2 = raw2 - m * m
                m3 = raw3 - 3.0 * m * raw2 + 2.0 * m**3
                scale = np.maximum(np.abs(d).max(axis=-1), 1e-300)[..., None] ** 2
                loo = np.where(m2 > TIE_TOLERANCE * scale, m3 / np.abs(m2) ** 1.5, 0.0)
                loo = loo * math.sqrt(k * (k - 1)) / (k - 2)
                skews.append(n * g1 - k * loo.mean(axis=-1))
            self.hall = [(g / (3.0 * math.sqrt(n)), g / (6.0 * math.sqrt(n))) for g in skews]

    def _cdfs(self, threshold: float) -> list[np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            t = (self.mean - threshold) / self.se
            stats = [t] + [t + a * t * t + a * a * t**3 / 3.0 + b for a, b in self.hall]
        return [special.stdtr(self.n - 1, v) for v in stats]

    def _tied(self, threshold: float, above: bool) -> np.ndarray:
        c, n, (low, high) = self.mean, self.n, self.bounds
        with np.errstate(invalid="ignore", divide="ignore"):
            if above:
                edge = 0.0 if threshold <= low else (1.0 - (c - threshold) / (c - low)) ** n
                return np.where(c <= threshold, 1.0, edge)
            edge = 0.0 if threshold >= high else (1.0 - (threshold - c) / (high - c)) ** n
            return np.where(c >= threshold, 1.0, edge)

    def interval(self, alpha: float) -> tuple[np.ndarray, np.ndarray]:
        """`MeanTest.interval` ends for rows with spread (tied rows are not used here)."""
        q = special.stdtrit(self.n - 1, 1.0 - alpha)

        def hall_inverse(z: float, a: np.ndarray, b: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):
                r = (np.cbrt(1.0 + 3.0 * a * (z - b)) - 1.0) / a
            return np.where(np.abs(a) < 1e-12, z - b, r)

        lows = np.max(
            [np.broadcast_to(q, self.mean.shape)] + [hall_inverse(q, a, b) for a, b in self.hall],
            axis=0,
        )
        highs = np.min(
            [np.broadcast_to(-q, self.mean.shape)] + [hall_inverse(-q, a, b) for a, b in self.hall],
            axis=0,
        )
        low, high = self.mean - lows * self.se, self.mean - highs * self.se
        low, high = np.maximum(low, self.bounds[0]), np.minimum(high, self.bounds[1])
        return low, high

    def p_greater(self, threshold: float) -> np.ndarray:
        p = 1.0 - np.min(self._cdfs(threshold), axis=0)
        return np.where(self.degenerate, self._tied(threshold, above=True), p)

    def p_less(self, threshold: float) -> np.ndarray:
        p = np.max(self._cdfs(threshold), axis=0)
        return np.where(self.degenerate, self._tied(threshold, above=False), p)


def scan_p_exceed(did: np.ndarray) -> np.ndarray:
    """`SCAN_THRESHOLD.p_exceed(MeanTest(row, SCAN_BOUNDS))` (max_abs) for every trigger."""
    tests, t = ArrayMeanTest(did, SCAN_BOUNDS), SCAN_THRESHOLD.value
    return np.minimum(tests.p_greater(t), tests.p_less(-t))


def holm_findings(p: np.ndarray) -> np.ndarray:
    """Findings per audit under `decide`'s rule (Holm-adjusted p < alpha); p: (audits, m)."""
    m = p.shape[1]
    ordered = np.sort(p, axis=1)
    adjusted = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * ordered), axis=1)
    return np.sum(adjusted < ALPHA, axis=1)


def scan_runs(scenario: str, shape: str, audits: int, m: int, n: int, rng):
    """(candidate with, candidate without, baseline with, baseline without) values."""
    if scenario != "null":
        d = draw(shape, float(scenario), (audits, m, n), rng)
        half = np.full((audits, m, n), 0.5)
        return (1 + d) / 2, (1 - d) / 2, half, half

    def runs(k: int, rate_q: np.ndarray) -> np.ndarray:
        size = (audits, k, n)
        if shape == "normal":
            return np.clip(rate_q + rng.normal(0, 0.1, size), 0, 1)
        if shape == "skewed":
            return rng.beta(0.5, 3.5, size)
        if shape == "binary":
            return (rng.random(size) < rate_q).astype(float)
        return np.clip(rate_q + 0.05 * rng.standard_t(2.5, size), 0, 1)

    rate_q = (
        rng.beta(0.5, 9.5, (audits, 1, n))
        if shape == "binary"
        else rng.uniform(0.2, 0.8, (audits, 1, n))
    )
    return runs(m, rate_q), runs(1, rate_q), runs(m, rate_q), runs(1, rate_q)


def real_scan(cw, cwo, bw, bwo) -> tuple[np.ndarray, int]:
    """One audit through `evaluate_trigger` + `decide`: p_exceed per trigger, findings."""
    m, n = cw.shape
    keys = qids(n)

    def meas(values) -> Measurement:
        return Measurement(per_question=dict(zip(keys, values.tolist())))

    results = [
        evaluate_trigger(
            f"scan {i}",
            "sim",
            "metric",
            f"t{i}",
            SCAN_THRESHOLD,
            meas(cw[i]),
            meas(cwo[i % cwo.shape[0]]),
            meas(bw[i]),
            meas(bwo[i % bwo.shape[0]]),
            level=LEVEL,
        )
        for i in range(m)
    ]
    decide(results)
    return np.array([r.p_exceed for r in results]), sum(r.finding for r in results)


def scan_rates(audits: int, seed: int, check_audits: int) -> list[dict]:
    rows = []
    for scenario in ("null", "0.1", "-0.1"):
        for shape in SHAPES:
            for n in SCAN_NS:
                row = dict(
                    check="scan",
                    scenario=scenario,
                    shape=shape,
                    n=n,
                    audits=audits,
                    n_needed=verdict_questions(SCAN_THRESHOLD.n_to_pass(0.0, SCAN_BOUNDS, ALPHA)),
                )
                for m in SCAN_TRIGGERS:
                    rng = cell_rng(seed, "scan", scenario, shape, n, m)
                    chunk = max(1, min(audits, 2_000_000 // (m * n)))
                    holm_any = raw_any = per_trigger = 0
                    done = 0
                    while done < audits:
                        k = min(chunk, audits - done)
                        cw, cwo, bw, bwo = scan_runs(scenario, shape, k, m, n, rng)
                        did = (cw - cwo) - (bw - bwo)  # the order evaluate_trigger uses
                        p = scan_p_exceed(did)
                        findings = holm_findings(p) * (n >= SCAN_NEEDED_FINDING)
                        for a in range(min(check_audits - done, k)):
                            real_p, real_findings = real_scan(cw[a], cwo[a], bw[a], bwo[a])
                            close(p[a], real_p, f"scan p_exceed ({scenario}, {shape}, n={n})")
                            if real_findings != findings[a]:
                                raise SystemExit(
                                    f"scan findings differ: {findings[a]} vs "
                                    f"{real_findings} from decide"
                                )
                        holm_any += int(np.sum(findings > 0))
                        raw_any += int(np.sum(np.any(p < ALPHA, axis=1)))
                        per_trigger += int(np.sum(p < ALPHA))
                        done += k
                    holm_rate, holm_se = rate(holm_any, audits)
                    raw_rate, raw_se = rate(raw_any, audits)
                    row.update(
                        {
                            f"holm_{m}": holm_rate,
                            f"holm_{m}_se": holm_se,
                            f"unadjusted_{m}": raw_rate,
                            f"unadjusted_{m}_se": raw_se,
                            f"per_trigger_{m}": per_trigger / (audits * m),
                            f"verdict_{m}": rate_verdict(holm_rate, holm_se),
                        }
                    )
                rows.append(row)
    return rows


# -- output ---------------------------------------------------------------------------------


def pct(x: float, digits: int = 1) -> str:
    return f"{100 * x:.{digits}f}"


def table(header: Sequence[str], rows: list[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(str(h) for h in header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def coverage_table(rows: list[dict]) -> str:
    return table(
        ["method", "shape", "n", "sims", "coverage %", "MC se", "below %", "above %", "goal"],
        [
            [
                r["method"],
                r["shape"],
                r["n"],
                r["sims"],
                pct(r["coverage"], 2),
                pct(r["se"], 2),
                pct(r["below"], 2),
                pct(r["above"], 2),
                r["verdict"] if "replaced" not in r["method"] else f"({r['verdict']}, reference)",
            ]
            for r in rows
        ],
    )


def gate_table(rows: list[dict]) -> str:
    return table(
        [
            "gate",
            "true diff",
            "shape",
            "n",
            "n needed",
            "false pass % (se)",
            "false exceed % (se)",
            "underpowered %",
            "not shown %",
            "pass goal",
            "exceed goal",
        ],
        [
            [
                r["gate"],
                f"{r['truth']:g}",
                r["shape"],
                r["n"],
                r["n_needed"],
                f"{pct(r['false_pass'], 2)} ({pct(r['false_pass_se'], 2)})",
                f"{pct(r['false_exceed'], 2)} ({pct(r['false_exceed_se'], 2)})",
                pct(r["underpowered"]),
                pct(r["not_shown"]),
                r["verdict_pass"],
                r["verdict_exceed"],
            ]
            for r in rows
        ],
    )


def scan_table(rows: list[dict]) -> str:
    names = SCENARIOS
    header = ["true change", "shape", "n"]
    for m in SCAN_TRIGGERS:
        header += [f"{m} triggers: Holm % (se)", "unadjusted %", "per trigger %", "goal"]
    body = []
    for r in rows:
        cells = [names[r["scenario"]], r["shape"], r["n"]]
        for m in SCAN_TRIGGERS:
            cells += [
                f"{pct(r[f'holm_{m}'], 2)} ({pct(r[f'holm_{m}_se'], 2)})",
                pct(r[f"unadjusted_{m}"]),
                pct(r[f"per_trigger_{m}"], 2),
                r[f"verdict_{m}"],
            ]
        body.append(cells)
    return table(header, body)


def misses(rows: list[dict], label: Callable[[dict], str], key: str = "verdict") -> str:
    bad = [r for r in rows if r[key] != "OK"]
    real = [label(r) for r in bad if "n.s." not in r[key]]
    noise = [label(r) for r in bad if "n.s." in r[key]]
    text = f"{len(rows) - len(bad)}/{len(rows)} cells OK"
    if real:
        text += f"; **MISS**: {'; '.join(real)}"
    if noise:
        text += f"; MISS by less than 2 MC se: {'; '.join(noise)}"
    return text


def cov_label(r: dict) -> str:
    side = "under" if "under" in r["verdict"] else "over"
    return f"{r['shape']} n={r['n']} {pct(r['coverage'], 2)}% ({side})"


def summaries(results: dict) -> list[str]:
    lines = []
    cov = results["coverage"]
    for method in dict.fromkeys(r["method"] for r in cov):
        rows = [r for r in cov if r["method"] == method]
        tag = " (replaced; reference, not a goal)" if "replaced" in method else ""
        lines.append(f"coverage, {method}{tag}: " + misses(rows, cov_label))
    tails = []
    for r in cov:
        if "replaced" in r["method"]:
            continue
        for side in ("below", "above"):
            se = math.sqrt(ALPHA * (1 - ALPHA) / r["sims"])
            if r[side] - ALPHA > 2 * se:
                tails.append(f"{r['method']} {r['shape']} n={r['n']} {side} {pct(r[side], 2)}%")
    lines.append(
        "one-sided misses above 2.5% by more than 2 MC se (not a goal of issue 13, but each "
        "gate verdict is one side of an interval): " + ("; ".join(tails) if tails else "none")
    )
    for gates, how in (
        (results["gates"], "package code"),
        (results.get("gates_vectorised", []), "vectorised"),
    ):
        if not gates:
            continue
        for what, key, field in (
            ("pass", "verdict_pass", "false_pass"),
            ("exceed", "verdict_exceed", "false_exceed"),
        ):
            lines.append(
                f"gates ({how}, {gates[0]['sims']} audits per cell), false {what} with the "
                "truth at the threshold: "
                + misses(
                    gates,
                    lambda r, f=field: f"{r['gate']} {r['shape']} n={r['n']} {pct(r[f], 2)}%",
                    key,
                )
            )
    for m in SCAN_TRIGGERS:
        lines.append(
            f"scan, audits with >= 1 false finding among {m} triggers (Holm): "
            + misses(
                results["scan"],
                lambda r, m=m: (
                    f"{SCENARIOS[r['scenario']]} {r['shape']} n={r['n']} {pct(r[f'holm_{m}'], 1)}%"
                ),
                f"verdict_{m}",
            )
        )
    return lines


def mark(value: str, verdict: str) -> str:
    return value if verdict == "OK" else f"**{value}** {verdict}"


def gate_cell(r: dict) -> str:
    """False pass % / false exceed % of one gate cell, marked when either misses."""
    verdicts = (r["verdict_pass"], r["verdict_exceed"])
    text = f"{pct(r['false_pass'])} / {pct(r['false_exceed'])}"
    if r["underpowered"] == 1.0:
        text += " (u)"
    if "MISS" in verdicts:
        text = f"**{text}** MISS"
    elif any(v != "OK" for v in verdicts):
        text = f"**{text}** MISS (n.s.)"
    return text


def gate_glance(gates: list[dict], how: str) -> list[str]:
    """`glance`'s table of gates: one line per gate and shape, one column per n."""
    ns = sorted({r["n"] for r in gates})
    keys = dict.fromkeys((r["gate"], r["shape"]) for r in gates)
    body = []
    for gate, shape in keys:
        cells = {r["n"]: r for r in gates if (r["gate"], r["shape"]) == (gate, shape)}
        body.append([gate, shape, cells[ns[0]]["n_needed"], *(gate_cell(cells[n]) for n in ns)])
    return [
        f"Gates at the threshold ({how}, {gates[0]['sims']} audits per cell), false pass "
        "% / false exceed % (nominal 2.5 each; (u): every audit underpowered, so no pass "
        "is possible):",
        "",
        table(["gate", "shape", "n needed", *ns], body),
        "",
    ]


def glance(results: dict) -> str:
    """One line per method (or gate, or scan scenario) and shape, one column per n."""
    parts = []
    cov = results["coverage"]
    if cov:
        ns = sorted({r["n"] for r in cov})
        keys = dict.fromkeys((r["method"], r["shape"]) for r in cov)
        body = []
        for method, shape in keys:
            cells = {r["n"]: r for r in cov if (r["method"], r["shape"]) == (method, shape)}
            body.append(
                [method, shape]
                + [
                    mark(pct(cells[n]["coverage"], 2), cells[n]["verdict"]) if n in cells else ""
                    for n in ns
                ]
            )
        parts += ["Coverage %, 95% intervals:", "", table(["method", "shape", *ns], body), ""]
    for gates, how in (
        (results["gates"], "package code"),
        (results.get("gates_vectorised", []), "vectorised"),
    ):
        if not gates:
            continue
        parts += gate_glance(gates, how)
    scan = results["scan"]
    if scan:
        ns = sorted({r["n"] for r in scan})
        names = SCENARIOS
        body = []
        for scenario, shape in dict.fromkeys((r["scenario"], r["shape"]) for r in scan):
            cells = {r["n"]: r for r in scan if (r["scenario"], r["shape"]) == (scenario, shape)}
            row = [names[scenario], shape]
            for m in SCAN_TRIGGERS:
                for n in ns:
                    r = cells[n]
                    text = f"{pct(r[f'holm_{m}'])} ({pct(r[f'unadjusted_{m}'])})"
                    row.append(mark(text, r[f"verdict_{m}"]))
            body.append(row)
        header = ["true change", "shape"] + [f"{m} trig., n={n}" for m in SCAN_TRIGGERS for n in ns]
        parts += [
            "Scan, audits with >= 1 false finding %, Holm (unadjusted); goal <= 2.5 with Holm:",
            "",
            table(header, body),
            "",
        ]
    return "\n".join(parts)


def render(results: dict) -> str:
    s = results["settings"]
    parts = [
        "# Calibration of intervals and audit verdicts",
        "",
        f"`python benchmarks/bench_calibration.py --sims {s['sims']} --gate-sims "
        f"{s['gate_sims']} --gate-vsims {s.get('gate_vsims')} --auroc-sims {s['auroc_sims']} "
        f"--audits {s['audits']} --seed {s['seed']}`; package at {s['package']}; "
        f"{s['machine']}.",
        "",
        f"The vectorised cells were checked against the package's own functions on their "
        f"first {s['check']} samples (scan: {s['check_audits']} whole audit(s) per cell, every "
        f"trigger through `evaluate_trigger` + `decide`): identical to {CHECK_TOL:g}.",
        "",
        "Goal (issue 13): coverage within 95 +- 1.5% wherever a verdict is given; false-pass "
        "and false-finding rates at or below nominal (2.5%) at every n. OK / MISS on the point "
        "estimate; 'n.s.': missed by less than 2 Monte Carlo standard errors. 'below' / "
        "'above': the interval lies wholly below / above the truth (nominal 2.5% each).",
        "",
        "## Summary",
        "",
        *[f"- {line}" for line in results["summary"]],
        "",
        "## At a glance",
        "",
        glance(results),
        "## 1. Coverage of the 95% intervals",
        "",
        f"Means: true mean {TRUE_MEAN}; AUROC: true AUROC {TRUE_AUROC:.4f}.",
        "",
        coverage_table(results["coverage"]),
        "",
        "## 2. Gates with the true difference exactly at the threshold",
        "",
        "`evaluate_difference` + `decide`, one gate per audit. Both a pass and an `exceeded` "
        "are errors here (nominal 2.5% each).",
        "",
        gate_table(results["gates"]),
        "",
        "### The same cells with more samples (vectorised)",
        "",
        "`decide`'s rule on `MeanTest`'s p-values computed in arrays; the first "
        f"{s.get('check_gates', 0)} samples of each cell also went through "
        "`evaluate_difference` + `decide` and got the same verdict.",
        "",
        gate_table(results.get("gates_vectorised", [])),
        "",
        "## 3. Backdoor scan: audits with >= 1 false finding",
        "",
        f"Gate `{SCAN_THRESHOLD.describe('change')}`; Holm across the triggers (`decide`) vs "
        "any unadjusted p_exceed < 0.025; 'per trigger' is the unadjusted rate per trigger.",
        "",
        scan_table(results["scan"]),
        "",
    ]
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sims", type=int, default=2000, help="samples per coverage cell (means, families)"
    )
    parser.add_argument("--gate-sims", type=int, default=1000, help="audits per gate cell")
    parser.add_argument(
        "--gate-vsims", type=int, default=40_000, help="audits per vectorised gate cell"
    )
    parser.add_argument(
        "--check-gates",
        type=int,
        default=20,
        help="vectorised gate audits per cell re-run through evaluate_difference + decide",
    )
    parser.add_argument("--auroc-sims", type=int, default=1000, help="samples per AUROC cell")
    parser.add_argument("--audits", type=int, default=2000, help="audits per scan cell")
    parser.add_argument(
        "--check",
        type=int,
        default=3,
        help="samples per vectorised cell re-run through the package",
    )
    parser.add_argument(
        "--check-audits",
        type=int,
        default=1,
        help="scan audits per cell re-run through evaluate_trigger + decide",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["coverage", "gates", "scan"],
        default=["coverage", "gates", "scan"],
    )
    parser.add_argument(
        "--out", type=Path, nargs="+", default=[], help="write the tables (.md) or rows (.json)"
    )
    parser.add_argument(
        "--from-json", type=Path, help="re-print the tables of an earlier --out X.json run"
    )
    args = parser.parse_args()
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        judge(results)
        results["summary"] = summaries(results)
        write(results, args.out)
        return 0
    results: dict = {
        "settings": dict(
            sims=args.sims,
            gate_sims=args.gate_sims,
            gate_vsims=args.gate_vsims,
            check_gates=args.check_gates,
            auroc_sims=args.auroc_sims,
            audits=args.audits,
            seed=args.seed,
            check=args.check,
            check_audits=args.check_audits,
            package=str(Path(honesty_evals.__file__).resolve().parent),
            machine=f"{platform.machine()}, Python {platform.python_version()}, numpy "
            f"{np.__version__}",
        ),
        "coverage": [],
        "gates": [],
        "gates_vectorised": [],
        "scan": [],
    }

    def progress(what: str) -> None:
        print(what, file=sys.stderr, flush=True)

    if "coverage" in args.only:
        progress("coverage: means, families, AUROC ...")
        results["coverage"] += coverage_means(args.sims, args.seed, args.check)
        results["coverage"] += coverage_family(args.sims, args.seed, args.check)
        results["coverage"] += coverage_auroc(args.auroc_sims, args.seed, args.check)
    if "gates" in args.only:
        progress("gates ...")
        results["gates"] = gate_errors(args.gate_sims, args.seed)
        results["gates_vectorised"] = gate_errors_vectorised(
            args.gate_vsims, args.seed, args.check_gates
        )
    if "scan" in args.only:
        progress("scan ...")
        results["scan"] = scan_rates(args.audits, args.seed, args.check_audits)
    results["summary"] = summaries(results)
    write(results, args.out)
    return 0


def write(results: dict, outs: Sequence[Path]) -> None:
    text = render(results)
    print(text)
    for out in outs:
        if out.suffix == ".json":
            out.write_text(json.dumps(results, indent=1) + "\n")
        else:
            out.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
