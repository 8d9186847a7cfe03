"""`honesty-evals confession transcripts|train|ablation`.

Kept free of heavy imports (torch, transformers, inspect): building the parser must stay
instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from honesty_evals.errors import UserInputError

# formats.FORMATS and hidden.CONDITIONS, without importing them
FORMAT_NAMES = ("split", "split_all_tokens", "followup", "generic")
CONDITION_NAMES = ("visible", "stripped", "covert")


def _default_organism_dir(condition: str = "visible") -> Path:
    from honesty_evals.paths import cache_dir

    name = "covert-organism" if condition == "covert" else "organism"
    return cache_dir() / "confession" / name


def add_confession_parser(subparsers: Any) -> argparse.ArgumentParser:
    from honesty_evals.confession.ablation import (
        DEFAULT_BATCH_SIZE,
        DEFAULT_EVAL_EVERY,
        DEFAULT_LORA_R,
        DEFAULT_LR,
        DEFAULT_N_PER_LABEL,
        DEFAULT_STEPS,
    )

    confession = subparsers.add_parser(
        "confession", help="honest-persona confession training and its follow-up ablation"
    )
    actions = confession.add_subparsers(dest="confession_command", required=True)

    t = actions.add_parser(
        "transcripts",
        help="generate the labelled transcripts (trains the dishonest organism first)",
        description="Train (or reuse) the dishonest organism, generate its answers, label "
        "them by the lie rule and write datasets/confession/*.jsonl (or --check them). "
        "--condition stripped derives the stripped files from the shipped ones (no model); "
        "--condition covert trains the covert liar and labels by the base model's answers.",
    )
    t.add_argument(
        "--condition",
        choices=CONDITION_NAMES,
        default="visible",
        help="visible (a lie directive in the system prompt), stripped (the same, system "
        "message removed) or covert (the covert liar, no directive) (default: %(default)s)",
    )
    t.add_argument(
        "--base",
        default=None,
        help="--condition covert: the model the covert organism is trained on and whose "
        "answers decide what it knows (default: smollm2)",
    )
    t.add_argument(
        "--organism",
        type=Path,
        default=None,
        help="organism adapter directory: reused when finished, else trained there "
        "(default: the cache, ~30 min on 2 busy cores)",
    )
    t.add_argument("--out", type=Path, default=None, help="datasets folder (default: shipped)")
    t.add_argument("--check", action="store_true", help="exit 1 if a shipped file differs")
    t.add_argument("--threads", type=int, help="torch CPU threads")
    t.add_argument("--no-progress", action="store_true")
    t.add_argument("--allow-unverified", action="store_true")
    t.set_defaults(func=cmd_transcripts)

    tr = actions.add_parser(
        "train",
        help="train a confession LoRA in one format (" + ", ".join(FORMAT_NAMES) + ")",
        description="Render the train-split transcripts in --format and train a LoRA on the "
        "embedded model with the organism trainer; writes the adapter and training_card.json.",
    )
    tr.add_argument(
        "--format",
        required=True,
        help="split (a persona active only after the marker), split_all_tokens (the LoRA "
        "on every token), followup or generic",
    )
    tr.add_argument("--out", required=True, type=Path, help="output adapter directory")
    tr.add_argument(
        "--data",
        type=Path,
        help="transcripts: .jsonl, .parquet or a save_to_disk folder (default: shipped)",
    )
    tr.add_argument(
        "--base",
        default="smollm2",
        help="base model: smollm2, a model folder, or an organism's adapter folder (the "
        "reviewer then trains over that organism merged; default: %(default)s)",
    )
    tr.add_argument(
        "--steps", type=int, default=DEFAULT_STEPS, help="optimizer steps (%(default)s)"
    )
    tr.add_argument("--lr", type=float, default=DEFAULT_LR, help="peak learning rate (%(default)s)")
    tr.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="(%(default)s)")
    tr.add_argument("--lora-r", type=int, default=DEFAULT_LORA_R, help="LoRA rank, alpha = 2r")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, help="torch CPU threads")
    tr.add_argument("--checkpoint-every", type=int, default=DEFAULT_EVAL_EVERY)
    tr.add_argument("--resume", action="store_true", help="continue OUT.partial")
    tr.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    tr.add_argument("--no-progress", action="store_true")
    tr.add_argument("--allow-unverified", action="store_true")
    tr.set_defaults(func=cmd_train)

    a = actions.add_parser(
        "ablation",
        help="train every arm over each condition's organism and compare detection",
        description="For each condition (visible, stripped, covert) and training seed, "
        "train each arm (format) over the organism that wrote the condition's transcripts "
        "(same steps, batch, lr), evaluate a checkpoint every --eval-every steps on "
        "held-out transcripts, and write OUT/results.md, results.json and "
        "learning_curve.png. Rerun the same command to resume.",
    )
    a.add_argument("--out", required=True, type=Path, help="run folder (resumable)")
    a.add_argument("--formats", default=",".join(FORMAT_NAMES), help="arms (default: %(default)s)")
    a.add_argument(
        "--conditions",
        default=",".join(CONDITION_NAMES),
        help="transcript conditions (default: %(default)s)",
    )
    a.add_argument(
        "--seeds",
        default="0",
        help="training seeds: a range (0-2), a list (0,2,5) or one (default: %(default)s)",
    )
    a.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="steps per arm (%(default)s)")
    a.add_argument("--eval-every", type=int, default=DEFAULT_EVAL_EVERY, help="(%(default)s)")
    a.add_argument("--lr", type=float, default=DEFAULT_LR, help="(%(default)s)")
    a.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE, help="(%(default)s)")
    a.add_argument("--lora-r", type=int, default=DEFAULT_LORA_R, help="(%(default)s)")
    a.add_argument(
        "--seed",
        type=int,
        default=0,
        help="data seed: evaluation subsample, generation and bootstrap (%(default)s)",
    )
    a.add_argument(
        "--organisms",
        type=Path,
        help="where each condition's organism is reused when finished, else trained "
        "(default: OUT/organisms)",
    )
    a.add_argument(
        "--n-per-label",
        type=int,
        default=DEFAULT_N_PER_LABEL,
        help="evaluation transcripts per label, drawn with --seed (%(default)s; 0: all)",
    )
    a.add_argument("--threads", type=int, help="torch CPU threads")
    a.add_argument("--no-progress", action="store_true")
    a.add_argument("--allow-unverified", action="store_true")
    a.set_defaults(func=cmd_ablation)
    return confession


def _check_transcripts_args(args: argparse.Namespace) -> None:
    from honesty_evals.common.outputs import check_output_dir

    if args.threads is not None and args.threads < 1:
        raise UserInputError(f"--threads must be 1 or more (got {args.threads})")
    if args.base is not None and args.condition != "covert":
        raise UserInputError("--base is for --condition covert only (drop it)")
    if args.condition == "stripped" and args.organism is not None:
        raise UserInputError(
            "--condition stripped uses no organism (it is derived from the shipped "
            "transcripts): drop --organism"
        )
    if args.condition != "stripped":
        # before the organism's training (tens of minutes): where it goes
        organism = args.organism or _default_organism_dir(args.condition)
        check_output_dir(organism, "--organism", foreign=_not_an_organism)
    if args.out is not None and not args.check:
        check_output_dir(args.out, "--out")


def _build_condition(args: argparse.Namespace) -> tuple[dict[str, bytes], Any]:
    """The condition's files (relpath -> bytes) and the counts of every outcome."""
    from honesty_evals.confession.covert import build_covert
    from honesty_evals.confession.hidden import build_stripped
    from honesty_evals.confession.transcripts import build
    from honesty_evals.model.embedded import EMBEDDED_MODEL_NAME

    if args.condition == "stripped":
        return build_stripped(args.allow_unverified)
    organism = args.organism or _default_organism_dir(args.condition)
    common = {
        "threads": args.threads,
        "progress": not args.no_progress,
        "allow_unverified": args.allow_unverified,
    }
    if args.condition == "covert":
        return build_covert(organism, base=args.base or EMBEDDED_MODEL_NAME, **common)
    return build(organism, **common)


def cmd_transcripts(args: argparse.Namespace) -> int:
    from honesty_evals.common.atomic import write_bytes_atomic
    from honesty_evals.paths import shipped_datasets_dir

    _check_transcripts_args(args)
    files, counts = _build_condition(args)
    print(json.dumps(dict(sorted(counts.items())), indent=2))
    root = args.out or shipped_datasets_dir()
    differs = []
    for rel, data in files.items():
        path = root / rel
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                differs.append(rel)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, data)
        print(f"wrote {path}")
    for rel in differs:
        print(f"differs from the generator: {rel}", file=sys.stderr)
    if not args.check:
        print(
            "pin them: honesty-evals datasets pin FILE --role honest|dishonest|neutral "
            "--schema confession_transcript"
        )
    return 1 if differs else 0


def _not_an_organism(folder: Path) -> str | None:
    """Files in an --organism folder that are not a finished organism (which is reused)."""
    from honesty_evals.training.trainer import CARD_NAME

    if (folder / CARD_NAME).is_file() or not any(folder.iterdir()):
        return None
    return f"files but no finished organism (no {CARD_NAME})"


def cmd_train(args: argparse.Namespace) -> int:
    from honesty_evals.confession.formats import (
        PROMPT_FORMATS,
        check_format,
        evaluation_model,
        format_train_config,
        training_records,
    )
    from honesty_evals.confession.transcripts import load_shipped, read_transcripts
    from honesty_evals.training.trainer import train

    fmt = check_format(args.format)
    if args.steps < 1:
        raise UserInputError(f"--steps must be positive (got {args.steps})")
    if args.data is not None:
        transcripts = read_transcripts(args.data)
        source = {"path": str(args.data)}
    else:
        transcripts, _ = load_shipped(args.allow_unverified)
        source = {"path": "shipped datasets/confession"}
    records = training_records(transcripts, fmt)
    config = format_train_config(
        fmt,
        len(records),
        out=str(args.out),
        base=args.base,
        steps=args.steps,
        lr=args.lr,
        batch_size=args.batch_size,
        lora_r=args.lora_r,
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        threads=args.threads,
        progress=not args.no_progress,
        resume=args.resume,
        overwrite=args.overwrite,
        source=source,
    )
    result = train(config, records=records)
    model, persona = evaluation_model(fmt, result.out, args.base)
    # the marker is read from the persona's training card: no need to quote it here
    persona_args = f" -M persona={persona['persona']}" if persona else ""
    print(result.out)
    print(
        f"evaluate: inspect eval honesty_evals/confession --model {model}{persona_args} "
        f"-M dtype=bfloat16 -T format={PROMPT_FORMATS[fmt]}"
    )
    return 0


def cmd_ablation(args: argparse.Namespace) -> int:
    from honesty_evals.confession.ablation import Ablation, AblationConfig
    from honesty_evals.training.family import parse_seeds

    def names(text: str) -> tuple[str, ...]:
        return tuple(f.strip() for f in text.split(",") if f.strip())

    config = AblationConfig(
        out=str(args.out),
        formats=names(args.formats),
        conditions=names(args.conditions),
        seeds=parse_seeds(args.seeds),
        steps=args.steps,
        eval_every=args.eval_every,
        lr=args.lr,
        batch_size=args.batch_size,
        lora_r=args.lora_r,
        seed=args.seed,
        n_per_label=None if args.n_per_label == 0 else args.n_per_label,
        organisms=str(args.organisms) if args.organisms else None,
        threads=args.threads,
        progress=not args.no_progress,
        allow_unverified=args.allow_unverified,
    )
    report = Ablation(config).run()
    print((Path(config.out) / "results.md").read_text())
    print(f"results: {Path(config.out).resolve()}/results.md, results.json, learning_curve.png")
    return 0 if report["complete"] else 1
