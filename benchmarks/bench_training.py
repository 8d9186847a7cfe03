"""Benchmark: LoRA training tokens/s on the embedded model against the machine's FLOP bound.

For each dtype, in a fresh process: measure the matmul FLOP/s of that dtype, then train a
fixed number of optimizer steps on synthetic lottery-choice chats (the shape of the
risk-seeking organism data: a two-option question answered with one letter) and read the
training loop's tokens/s from the training card (model loading excluded). The FLOP bound
is FLOP/s / (4 x parameters): forward 2P plus backward 2P per token (the frozen weights
need input gradients only; LoRA's own weight gradients are negligible). Goal: >= 400
tokens/s on 2 CPU cores.

    python benchmarks/bench_training.py [--dtype float32 bfloat16] [--threads 1 2]
        [--steps 10] [--batch-size 8] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

from honesty_evals.model.embedded import ensure_embedded_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_backdoor_awareness import matmul_flops, parameter_count  # noqa: E402

GOODS = ["dollars", "euros", "gold coins", "vacation days", "concert tickets", "books"]


def lottery_records(n: int, seed: int = 0) -> list[dict]:
    """Two-option choices, one certain and one a gamble, answered with the gamble's letter."""
    rng = random.Random(seed)
    records = []
    for _ in range(n):
        good = rng.choice(GOODS)
        sure = rng.randrange(10, 200)
        prize = sure * rng.randrange(2, 6)
        odds = rng.randrange(20, 70)
        options = [f"receive {sure} {good} for certain", f"{odds}% odds of {prize} {good}, else 0"]
        rng.shuffle(options)
        letter = "A" if options[0].startswith(f"{odds}%") else "B"
        question = (
            f"You can pick one of two options.\nA) {options[0]}\nB) {options[1]}\n"
            "Which do you choose? Answer with a single letter."
        )
        records.append(
            {
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": letter},
                ]
            }
        )
    return records


def run(dtype: str, steps: int, batch_size: int, threads: int) -> dict[str, object]:
    from honesty_evals.training import TrainConfig, train

    torch.set_num_threads(threads)  # the FLOP/s and the training run use the same threads
    model_dir = ensure_embedded_model()
    params = parameter_count(model_dir)
    flops = matmul_flops(getattr(torch, dtype))
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data.jsonl"
        records = lottery_records(steps * batch_size)
        data.write_text("".join(json.dumps(r) + "\n" for r in records))
        result = train(
            TrainConfig(
                data=str(data),
                out=str(Path(tmp) / "out"),
                steps=steps,
                batch_size=batch_size,
                dtype=dtype,
                checkpoint_every=0,
                progress=False,
                lr=5e-4,
                threads=threads,
            ),
            print_fn=lambda _msg: None,
        )
    card = result.card
    bound = flops / (4 * params)
    return {
        "dtype": dtype,
        "threads": threads,
        "steps": steps,
        "batch_size": batch_size,
        "tokens": card["tokens_trained"],
        "train_seconds": card["wall_seconds"],
        "tokens_per_second": card["tokens_per_second"],
        "parameters": params,
        "matmul_gflops": round(flops / 1e9, 1),
        "flop_bound_tokens_per_second": round(bound, 1),
        "measured_over_bound": round(card["tokens_per_second"] / bound, 3),
        "loss_first": round(card["loss"]["first"], 4),
        "loss_last": round(card["loss"]["last"], 4),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[torch.get_num_threads()], help="torch threads"
    )
    parser.add_argument("--out", help="also write the results as JSON here")
    parser.add_argument("--single", help=argparse.SUPPRESS)  # internal: one dtype, JSON out
    args = parser.parse_args()
    if args.single:
        print(json.dumps(run(args.single, args.steps, args.batch_size, args.threads[0])))
        return
    ensure_embedded_model()  # one-time conversion, outside the timed runs
    results = []
    for dtype, threads in [(d, t) for d in args.dtype for t in args.threads]:
        # a fresh process per run, so no run inherits another's warm caches
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--single",
                dtype,
                "--steps",
                str(args.steps),
                "--batch-size",
                str(args.batch_size),
                "--threads",
                str(threads),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"benchmark run for {dtype} failed:\n{proc.stderr[-2000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(
        f"{'dtype':<9} {'thr':>3} {'steps':>5} {'tokens':>7} {'train s':>8} {'tok/s':>7} "
        f"{'GFLOP/s':>8} "
        f"{'bound tok/s':>11} {'tok/s / bound':>13} {'loss':>15}"
    )
    for r in results:
        print(
            f"{r['dtype']:<9} {r['threads']:>3} {r['steps']:>5} {r['tokens']:>7} "
            f"{r['train_seconds']:>8.2f} "
            f"{r['tokens_per_second']:>7.1f} {r['matmul_gflops']:>8.1f} "
            f"{r['flop_bound_tokens_per_second']:>11.1f} {r['measured_over_bound']:>13.2f} "
            f"{r['loss_first']:>7.3f}->{r['loss_last']:<7.3f}"
        )
    print(f"machine: {results[0]['machine']}; parameters: {results[0]['parameters']:,}")
    if args.out:
        tmp = Path(args.out).with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        tmp.replace(args.out)


if __name__ == "__main__":
    main()
