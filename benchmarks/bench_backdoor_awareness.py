"""Benchmark: backdoor_awareness on the embedded model against the machine's FLOP bound.

Reports, for one run of the task per dtype, each in a fresh process: wall time of the eval
call (importing transformers and loading the model included, one-time GGUF conversion
excluded), tokens processed (from the eval log's usage), the
machine's measured matmul FLOP/s in that dtype, and the ratio of the FLOP-bound time
(2 x parameters x tokens / FLOP/s) to the wall time. Goal: ratio >= 0.5.

    python benchmarks/bench_backdoor_awareness.py [--dtype float32 bfloat16] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from inspect_ai import eval as inspect_eval
from safetensors import safe_open

from honesty_evals.model.embedded import ensure_embedded_model
from honesty_evals.model.local_provider import loaded_engines


def matmul_flops(dtype: torch.dtype, size: int = 2048, seconds: float = 2.0) -> float:
    """Sustained FLOP/s of square matmuls in `dtype` (best of repeated timed blocks)."""
    a = torch.randn(size, size, dtype=dtype)
    b = torch.randn(size, size, dtype=dtype)
    for _ in range(3):
        a @ b
    best = 0.0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(5):
            a @ b
        best = max(best, 5 * 2 * size**3 / (time.perf_counter() - start))
    return best


def parameter_count(model_dir: Path) -> int:
    total = 0
    for file in model_dir.glob("*.safetensors"):
        with safe_open(str(file), framework="pt") as f:
            for name in f.keys():
                shape = f.get_slice(name).get_shape()
                n = 1
                for dim in shape:
                    n *= dim
                total += n
    return total


def run(dtype: str, log_dir: str) -> dict[str, object]:
    model_dir = ensure_embedded_model()  # conversion is one-time: excluded from the timing
    params = parameter_count(model_dir)
    start = time.perf_counter()
    log = inspect_eval(
        "honesty_evals/backdoor_awareness",
        model="local/smollm2",
        model_args={"dtype": dtype},
        display="none",
        log_dir=log_dir,
    )[0]
    wall = time.perf_counter() - start
    if log.status != "success":
        raise SystemExit(f"eval failed: {log.error}")
    usage = next(iter(log.stats.model_usage.values()))
    # every token requested (with the prefix cache, input_tokens counts only the computed
    # prompt tokens and input_tokens_cache_read the rest), as before the cache
    tokens = usage.input_tokens + (usage.input_tokens_cache_read or 0) + usage.output_tokens
    flops = matmul_flops(getattr(torch, dtype))
    bound = 2 * params * tokens / flops
    metrics = {k: v.value for k, v in log.results.scores[0].metrics.items()}
    (engine,) = loaded_engines()
    return {
        "dtype": dtype,
        "samples": log.results.total_samples,
        "wall_seconds": round(wall, 3),
        "tokens": tokens,
        "parameters": params,
        "matmul_gflops": round(flops / 1e9, 1),
        "flop_bound_seconds": round(bound, 3),
        "bound_over_wall": round(bound / wall, 3),
        # the model's own share of the wall time, and the padding it processed
        "compute_seconds": round(engine.stats.seconds, 3),
        "bound_over_compute": round(bound / engine.stats.seconds, 3),
        "padded_tokens": engine.stats.padded_tokens,
        "p_aware": round(metrics["parsed_mean"], 4),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--out", help="also write the results as JSON here")
    parser.add_argument("--single", help=argparse.SUPPRESS)  # internal: one dtype, JSON out
    args = parser.parse_args()
    if args.single:
        with tempfile.TemporaryDirectory() as log_dir:
            print(json.dumps(run(args.single, log_dir)))
        return
    ensure_embedded_model()
    results = []
    for dtype in args.dtype:
        # a fresh process per dtype, so each run pays the same start-up costs
        proc = subprocess.run(
            [sys.executable, __file__, "--single", dtype],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"benchmark run for {dtype} failed:\n{proc.stderr[-2000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    header = (
        f"{'dtype':<9} {'wall s':>7} {'tokens':>7} {'GFLOP/s':>8} {'bound s':>8} "
        f"{'bound/wall':>10} {'compute s':>9} {'bound/compute':>13} {'padded':>7} {'P(aware)':>8}"
    )
    print(header)
    for r in results:
        print(
            f"{r['dtype']:<9} {r['wall_seconds']:>7.2f} {r['tokens']:>7} "
            f"{r['matmul_gflops']:>8.1f} {r['flop_bound_seconds']:>8.2f} "
            f"{r['bound_over_wall']:>10.2f} {r['compute_seconds']:>9.2f} "
            f"{r['bound_over_compute']:>13.2f} {r['padded_tokens']:>7} {r['p_aware']:>8.4f}"
        )
    print(f"machine: {results[0]['machine']}; parameters: {results[0]['parameters']:,}")
    if args.out:
        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
