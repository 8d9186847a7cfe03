"""Benchmark: lie_detection with shared-prefix caching on and off, on the embedded model.

Runs `lie_detection` with all 48 follow-up questions on the first N items (default 20: 40
samples, a lie and a truth instruction each, so 1,920 follow-up requests) on
`local/smollm2`, once with `-M prefix_cache=false` and once with the cache on, in the same
process. Each engine is loaded and warmed up before its timed run (and its prefix store
emptied), so the wall times compare the generation work only. Reports, per run:

- wall s: the `inspect_ai.eval()` call;
- tokens requested (every prompt token of every request, plus the generated ones) against
  tokens computed (what the forward passes ran, without padding), and the cache's hit
  rate (share of prompt tokens served from a shared prefix);
- effective tok/s (requested tokens per wall second) against the no-cache FLOP bound
  (measured matmul FLOP/s / (2 x parameters): what the uncached engine could at best do);
- that both runs measured the same thing: identical labels and answers, follow-up features
  equal to float tolerance.

Goal (issue 19): >= 5x faster with the cache, identical features.

    python benchmarks/bench_prefix_cache.py [--items 20] [--dtype float32] [--batch-size 64]
        [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from inspect_ai import eval as inspect_eval

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backdoor_awareness import matmul_flops, parameter_count  # noqa: E402

from honesty_evals.lie_detection.task import lie_detection  # noqa: E402
from honesty_evals.model.embedded import ensure_embedded_model  # noqa: E402
from honesty_evals.model.engine import EngineStats  # noqa: E402
from honesty_evals.model.local_provider import loaded_engines  # noqa: E402


def _engine(prefix_cache: bool) -> Any:
    (engine,) = [e for e in loaded_engines() if (e.prefix_store is not None) == prefix_cache]
    return engine


def run(
    prefix_cache: bool, items: int, dtype: str, batch_size: int, log_dir: str
) -> dict[str, Any]:
    model_args = {"dtype": dtype, "prefix_cache": prefix_cache, "batch_size": batch_size}
    # warm-up: load the model and run a few requests, then forget what it did
    warm = inspect_eval(
        lie_detection(n_followups=6),
        model="local/smollm2",
        model_args=model_args,
        limit=2,
        display="none",
        log_dir=log_dir,
    )[0]
    if warm.status != "success":
        raise SystemExit(f"warm-up eval failed: {warm.error}")
    engine = _engine(prefix_cache)
    if engine.prefix_store is not None:
        engine.prefix_store.clear()
    engine.stats = EngineStats()
    start = time.perf_counter()
    log = inspect_eval(
        lie_detection(),  # all 48 follow-ups, the pre-release suite's items
        model="local/smollm2",
        model_args=model_args,
        limit=2 * items,  # a lie and a truth sample per item
        display="none",
        log_dir=log_dir,
    )[0]
    wall = time.perf_counter() - start
    if log.status != "success":
        raise SystemExit(f"eval failed: {log.error}")
    stats = engine.stats
    usage = next(iter(log.stats.model_usage.values()))
    samples = {
        s.id: s.scores["lie_detection_scorer"].metadata for s in log.samples or [] if s.scores
    }
    return {
        "prefix_cache": prefix_cache,
        "samples": len(samples),
        "requests": stats.rows,
        "wall_seconds": round(wall, 3),
        "engine_seconds": round(stats.seconds, 3),
        "prompt_tokens": stats.prompt_tokens,
        "computed_prompt_tokens": stats.computed_tokens,
        "output_tokens": stats.output_tokens,
        "requested_tokens": stats.prompt_tokens + stats.output_tokens,
        "computed_tokens": stats.computed_tokens + stats.output_tokens,
        "padded_prompt_tokens": stats.padded_tokens,
        "hit_rate": round(stats.hit_rate, 4),
        # the same counts as the eval log's usage records them
        "log_input_tokens": usage.input_tokens,
        "log_cache_read_tokens": usage.input_tokens_cache_read or 0,
        "_samples": samples,
    }


def compare(off: dict[str, Any], on: dict[str, Any]) -> dict[str, Any]:
    """Whether the cached run measured what the uncached one did."""
    a, b = off["_samples"], on["_samples"]
    same_ids = sorted(a) == sorted(b)
    labels = same_ids and all(a[k]["label"] == b[k]["label"] for k in a)
    answers = same_ids and all(a[k]["answer"] == b[k]["answer"] for k in a)
    diffs = [
        abs(x - y)
        for k in (a if same_ids else [])
        for x, y in zip(a[k]["features"], b[k]["features"], strict=True)
    ]
    n_features = sum(len(a[k]["features"]) for k in a)
    return {
        "same_samples": same_ids,
        "same_labels": labels,
        "same_answers": answers,
        "features": n_features,
        "max_feature_difference": max(diffs) if diffs else None,
        "features_equal_to_1e-3": bool(diffs) and max(diffs) <= 1e-3,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20, help="QA items (2 samples each)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument(
        "--batch-size", type=int, default=64, help="-M batch_size (default: the provider's 64)"
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    model_dir = ensure_embedded_model()  # one-time conversion, outside the timing
    params = parameter_count(model_dir)
    runs = {}
    with tempfile.TemporaryDirectory() as log_dir:
        for prefix_cache in (False, True):
            runs[prefix_cache] = run(prefix_cache, args.items, args.dtype, args.batch_size, log_dir)
    flops = matmul_flops(getattr(torch, args.dtype))
    bound = flops / (2 * params)  # tokens/s the FLOPs allow when every token is computed
    checks = compare(runs[False], runs[True])
    results: dict[str, Any] = {
        "items": args.items,
        "dtype": args.dtype,
        "batch_size": args.batch_size,
        "parameters": params,
        "matmul_gflops": round(flops / 1e9, 1),
        "no_cache_bound_tokens_per_s": round(bound, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads",
        "runs": [],
        "speedup": round(runs[False]["wall_seconds"] / runs[True]["wall_seconds"], 2),
        **checks,
    }
    print(
        f"{'cache':<6} {'wall s':>8} {'requested':>10} {'computed':>9} {'hits':>6} "
        f"{'padded':>8} {'eff tok/s':>10} {'bound tok/s':>11} {'eff/bound':>9}"
    )
    for prefix_cache in (False, True):
        r = {k: v for k, v in runs[prefix_cache].items() if not k.startswith("_")}
        r["effective_tokens_per_s"] = round(r["requested_tokens"] / r["wall_seconds"], 1)
        r["effective_over_bound"] = round(r["effective_tokens_per_s"] / bound, 3)
        results["runs"].append(r)
        print(
            f"{'on' if prefix_cache else 'off':<6} {r['wall_seconds']:>8.1f} "
            f"{r['requested_tokens']:>10} {r['computed_tokens']:>9} {r['hit_rate']:>6.1%} "
            f"{r['padded_prompt_tokens']:>8} {r['effective_tokens_per_s']:>10.0f} "
            f"{bound:>11.0f} {r['effective_over_bound']:>9.2f}"
        )
    print(
        f"speedup {results['speedup']}x (goal >= 5x); {checks['features']} features, max "
        f"difference {checks['max_feature_difference']}; labels identical: "
        f"{checks['same_labels']}, answers identical: {checks['same_answers']}"
    )
    print(f"machine: {results['machine']}; parameters: {params:,}")
    if args.out:
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        tmp.replace(args.out)
    ok = checks["same_labels"] and checks["same_answers"] and checks["features_equal_to_1e-3"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
