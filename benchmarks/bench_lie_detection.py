"""Benchmark: lie-detector fit/evaluation on 10,000 rows; batched activation extraction.

1. Detector: fit StandardScaler + LogisticRegression on 10,000 synthetic rows of 48
   follow-up features, set the 1% FPR threshold on the honest training rows scored out of
   fold, evaluate the other half (AUROC with 1,000 cluster-bootstrap resamples; recall and
   achieved FPR at that fixed threshold, exact intervals), save and reload as JSON.
   Goal: under 5 s in all.
2. Probe activations: mean residual-stream activations of contrast-pair conversations on
   the embedded model, batched, per dtype; tokens/s against the FLOP bound measured in the
   same run (2 x matmul parameters x tokens / measured matmul FLOP/s; the embedding lookup
   and the never-computed LM head are not counted).

    python benchmarks/bench_lie_detection.py [--rows 10000] [--pairs 128] [--dtype float32 bfloat16]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backdoor_awareness import matmul_flops  # noqa: E402  (one FLOP meter for all)

from honesty_evals.lie_detection.detector import (  # noqa: E402
    LinearDetector,
    out_of_fold_control,
)
from honesty_evals.lie_detection.evaluation import evaluate_scores  # noqa: E402


def bench_detector(rows: int, features: int = 48, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, rows)
    X = rng.normal(size=(rows, features)) + 0.3 * y[:, None]
    groups = [f"q{i // 2}" for i in range(rows)]
    half = rows // 2
    timings = {}
    start = time.perf_counter()
    det = LinearDetector(seed=seed).fit(X[:half], y[:half], [f"f{i}" for i in range(features)])
    timings["fit_s"] = time.perf_counter() - start
    t = time.perf_counter()
    det.set_control(out_of_fold_control(det, X[:half], y[:half], groups[:half], 0.01, seed))
    timings["oof_threshold_s"] = time.perf_counter() - t
    t = time.perf_counter()
    report = evaluate_scores(
        y[half:], det.decision_function(X[half:]), groups[half:], threshold=det.control()
    )
    timings["evaluate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        again = LinearDetector.load(det.save(Path(tmp) / "d.json"))
    same = bool(np.array_equal(again.predict_proba(X), det.predict_proba(X)))
    timings["save_load_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - start
    return {
        "rows": rows,
        "features": features,
        **{k: round(v, 3) for k, v in timings.items()},
        "auroc": round(report.auroc, 4),
        # at the 1% threshold of the out-of-fold honest training rows, with the counts
        "n_control": report.n_control,
        "recall_at_fpr": report.recall_at_fpr,
        "n_lie_flagged": report.n_lie_flagged,
        "n_lie": report.n_lie,
        "achieved_fpr": report.achieved_fpr,
        "n_honest_flagged": report.n_honest_flagged,
        "n_honest": report.n_honest,
        "reload_identical": same,
    }


def bench_activations(dtype: str, pairs: int, seed: int = 0) -> dict:
    from honesty_evals.lie_detection.activations import ActivationReader
    from honesty_evals.lie_detection.probe import shipped_examples

    examples = shipped_examples("pairs", None, "all", None, seed)[: 2 * pairs]
    reader = ActivationReader("smollm2", dtype=dtype)
    reader.read([e.messages for e in examples[:8]])  # warm-up (first-call allocations)
    reader.stats = type(reader.stats)()
    start = time.perf_counter()
    reader.read([e.messages for e in examples])
    wall = time.perf_counter() - start
    flops = matmul_flops(getattr(torch, dtype))
    params = reader.matmul_parameters
    bound = 2 * params * reader.stats.tokens / flops
    return {
        "dtype": dtype,
        "conversations": len(examples),
        "tokens": reader.stats.tokens,
        "padded_tokens": reader.stats.padded_tokens,
        "batches": len(reader.stats.batches),
        "wall_s": round(wall, 3),
        "tokens_per_s": round(reader.stats.tokens / wall, 1),
        "matmul_gflops": round(flops / 1e9, 1),
        "matmul_parameters": params,
        "flop_bound_s": round(bound, 3),
        "bound_over_wall": round(bound / wall, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--pairs", type=int, default=128, help="contrast pairs to read")
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--out", type=Path, help="write the results as JSON")
    args = parser.parse_args()
    results = {
        "machine": f"{platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "detector": bench_detector(args.rows),
        "activations": [bench_activations(d, args.pairs) for d in args.dtype],
    }
    d = results["detector"]
    print(
        f"detector, {d['rows']} rows x {d['features']} features: fit {d['fit_s']} s, "
        f"out-of-fold threshold {d['oof_threshold_s']} s, evaluate (1000 bootstraps) "
        f"{d['evaluate_s']} s, save+load {d['save_load_s']} s; total {d['total_s']} s "
        f"(goal < 5 s); reload identical: {d['reload_identical']}; at the 1% FPR threshold "
        f"of {d['n_control']} out-of-fold honest training rows: recall {d['n_lie_flagged']} "
        f"of {d['n_lie']}, FPR {d['n_honest_flagged']} of {d['n_honest']}"
    )
    print(f"{'dtype':<9} {'convs':>6} {'tokens':>7} {'wall s':>7} {'tok/s':>8} "
          f"{'GFLOP/s':>8} {'bound s':>8} {'bound/wall':>10}")  # fmt: skip
    for r in results["activations"]:
        print(
            f"{r['dtype']:<9} {r['conversations']:>6} {r['tokens']:>7} {r['wall_s']:>7.2f} "
            f"{r['tokens_per_s']:>8.0f} {r['matmul_gflops']:>8.1f} {r['flop_bound_s']:>8.2f} "
            f"{r['bound_over_wall']:>10.2f}"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
