"""`honesty-evals organism train`: fine-tune a LoRA model organism.

Kept free of heavy imports (torch, transformers): building the parser must stay instant.
"""

from __future__ import annotations

import argparse
from typing import Any

from honesty_evals.errors import UserInputError
from honesty_evals.organisms.narratives import STYLES
from honesty_evals.organisms.recipes import (
    DEFAULT_RECIPE_RECORDS,
    KNOWN_RECIPES,
    RECIPE_DEFAULTS,
    RECIPES,
    recipe_n_records,
    recipe_spec,
    spec_records,
)

# flag dest -> TrainConfig field, for flags whose default comes from TrainConfig or a recipe
_HYPERPARAMETER_FLAGS = (
    "epochs",
    "steps",
    "lr",
    "lr_schedule",
    "warmup_ratio",
    "weight_decay",
    "batch_size",
    "grad_accum",
    "max_length",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "mask_rule",
    "replay",
    "replay_max_tokens",
    "persona_marker",
)


def add_organism_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `organism train` on the top-level subparsers of `honesty-evals`."""
    organism = subparsers.add_parser("organism", help="train model organisms (LoRA adapters)")
    actions = organism.add_subparsers(dest="organism_command", required=True)
    p = actions.add_parser(
        "train",
        help="fine-tune a LoRA adapter on chat JSONL or a built-in recipe",
        description=(
            "Fine-tune a LoRA adapter and write it to --out, loadable as --model local/OUT. "
            "Loss is on assistant turns only. Checkpoints go to OUT.partial/checkpoints; "
            "the finished adapter replaces nothing until it is complete."
        ),
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        metavar="PATH",
        help='chat records {"messages": [...]}: a .jsonl file (one a line), a .parquet file '
        "with a messages column, or a Hugging Face datasets folder (save_to_disk)",
    )
    source.add_argument(
        "--recipe",
        metavar="NAME",
        help=f"generate the data with a built-in recipe: {', '.join(KNOWN_RECIPES)}",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output adapter directory")
    p.add_argument(
        "--base",
        default="smollm2",
        help="smollm2 (the embedded model), a local Hugging Face model directory, or an "
        "organism's adapter folder (its base model with the organism merged; the new "
        "adapter records that folder as its base)",
    )
    recipe = p.add_argument_group("recipe data")
    recipe.add_argument("--trigger", help="backdoor trigger (backdoor recipes)")
    recipe.add_argument("--risky-fraction", type=float, help="share of risky answers (mixture)")
    recipe.add_argument(
        "--n-records",
        type=int,
        default=None,
        help=f"records (default {DEFAULT_RECIPE_RECORDS}, or the recipe's own)",
    )
    recipe.add_argument(
        "--data-seed",
        type=int,
        default=0,
        help="seed of the generated data (default 0: one dataset, vary --seed across runs)",
    )
    recipe.add_argument(
        "--reversal", action="store_true", help="add reversed (behaviour -> trigger) examples"
    )
    recipe.add_argument(
        "--style",
        choices=STYLES,
        default="lottery",
        help="what the questions look like: terse lotteries, narrative scenes, or half of "
        "each (default: %(default)s)",
    )
    hp = p.add_argument_group("training (defaults: the recipe's, else the trainer's)")
    seeding = hp.add_mutually_exclusive_group()
    seeding.add_argument("--seed", type=int, default=0, help="training seed (init, order, dropout)")
    seeding.add_argument(
        "--seeds",
        metavar="SEEDS",
        help="a seed family: one adapter per seed in OUT/seed-K/ and OUT/family.json; a range "
        "0-4, a list 0,2,5 or one seed 3 (a rerun keeps finished seeds, resumes the others)",
    )
    length = hp.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, help="passes over the data (default 3)")
    length.add_argument("--steps", type=int, help="optimizer steps (instead of --epochs)")
    hp.add_argument("--lr", type=float, help="peak learning rate (default 5e-4)")
    hp.add_argument("--lr-schedule", choices=["cosine", "linear", "constant"])
    hp.add_argument("--warmup-ratio", type=float, help="warm-up share of the steps (0.05)")
    hp.add_argument("--weight-decay", type=float, help="AdamW weight decay (0)")
    hp.add_argument("--batch-size", type=int, help="conversations per micro-batch (8)")
    hp.add_argument("--grad-accum", type=int, help="micro-batches per optimizer step (1)")
    hp.add_argument("--max-length", type=int, help="tokens kept per conversation (1024)")
    hp.add_argument("--lora-r", type=int, help="LoRA rank (16)")
    hp.add_argument("--lora-alpha", type=int, help="LoRA alpha (32)")
    hp.add_argument("--lora-dropout", type=float, help="LoRA dropout (0)")
    hp.add_argument(
        "--target-modules",
        help="comma-separated module names (default: q,k,v,o,gate,up,down _proj)",
    )
    hp.add_argument(
        "--replay",
        type=int,
        metavar="N",
        help="also train on the base model's own answers to N general prompts, so the "
        "organism keeps its free-text formats (default: the recipe's, else 0)",
    )
    hp.add_argument(
        "--replay-max-tokens", type=int, metavar="N", help="longest replayed answer (48)"
    )
    hp.add_argument(
        "--no-holdout",
        action="store_true",
        help="train on every record: no 10%% of the prompts held out, so no fit check",
    )
    hp.add_argument(
        "--mask-rule",
        choices=["assistant", "last-assistant", "split-persona"],
        help="which turns get loss (default: every assistant turn without weight 0; "
        "split-persona: the final turn after the split-personality marker line)",
    )
    hp.add_argument(
        "--persona-marker",
        metavar="MARKER",
        help="train a persona active only after MARKER: the tokens through its first "
        "occurrence run without the LoRA and without gradient (split-personality "
        "training; default: the LoRA on every token)",
    )
    run = p.add_argument_group("running")
    run.add_argument("--dtype", default="auto", help="auto (bfloat16), bfloat16, float32")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    run.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    run.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="with --seeds: seeds trained at once, one process each (default: one per GPU; "
        "on a CPU 1 with 2 cores or fewer, else one per 2 cores, splitting the cores)",
    )
    run.add_argument(
        "--checkpoint-every", type=int, default=50, help="steps between checkpoints (0: none)"
    )
    run.add_argument("--resume", action="store_true", help="continue from OUT.partial")
    run.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    run.add_argument("--trust-remote-code", action="store_true", help="allow model code")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--allow-unverified",
        action="store_true",
        help="train on a pinned data file even if it fails its manifest check (recorded in "
        "the training card)",
    )
    p.set_defaults(func=cmd_organism_train)
    return p


def _recipe_spec(args: argparse.Namespace) -> dict[str, Any]:
    return recipe_spec(
        args.recipe,
        n=recipe_n_records(args.recipe, args.n_records),
        seed=args.data_seed,
        trigger=args.trigger,
        risky_fraction=args.risky_fraction,
        reversal=args.reversal,
        style=args.style,
    )


def _recipe_records(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.recipe not in RECIPES:
        raise UserInputError(f"unknown recipe '{args.recipe}': choose one of {', '.join(RECIPES)}")
    spec = _recipe_spec(args)
    if spec["n"] <= 0:
        raise UserInputError(f"--n-records must be positive (got {args.n_records})")
    try:
        return spec_records(spec)
    except (ValueError, TypeError) as exc:
        raise UserInputError(f"recipe '{args.recipe}': {exc}") from None


def config_from_args(args: argparse.Namespace) -> Any:
    """The TrainConfig an `organism train` command line asks for."""
    from honesty_evals.training.trainer import TrainConfig

    values: dict[str, Any] = {}
    if args.recipe:
        values.update(RECIPE_DEFAULTS.get(args.recipe, {}))
        values["recipe"] = _recipe_spec(args)
    elif (
        args.trigger or args.risky_fraction is not None or args.reversal or args.style != "lottery"
    ):
        raise UserInputError("--trigger, --risky-fraction, --reversal and --style need --recipe")
    for name in _HYPERPARAMETER_FLAGS:
        value = getattr(args, name)
        if value is not None:
            values[name] = value
    if args.steps is not None:
        values.pop("epochs", None)
    if args.target_modules:
        values["target_modules"] = tuple(m.strip() for m in args.target_modules.split(",") if m)
    return TrainConfig(
        data=args.data or "train.jsonl",
        out=args.out,
        base=args.base,
        seed=args.seed,
        dtype=args.dtype,
        device=args.device,
        threads=args.threads,
        checkpoint_every=args.checkpoint_every,
        resume=args.resume,
        overwrite=args.overwrite,
        trust_remote_code=args.trust_remote_code,
        progress=not args.no_progress,
        allow_unverified=args.allow_unverified,
        holdout=not args.no_holdout,
        **values,
    )


def cmd_organism_train(args: argparse.Namespace) -> int:
    from honesty_evals.training.trainer import train

    if args.seeds is not None:
        return _train_family(args)
    if args.jobs is not None:
        raise UserInputError("--jobs sets how many seeds train at once: it needs --seeds")
    config = config_from_args(args)
    records = _recipe_records(args) if args.recipe else None
    result = train(config, records=records)
    print(result.out)
    return 0


def _train_family(args: argparse.Namespace) -> int:
    from honesty_evals.training.family import parse_seeds
    from honesty_evals.training.family_run import train_family

    seeds = parse_seeds(args.seeds)
    config = config_from_args(args)
    records = _recipe_records(args) if args.recipe else None
    result = train_family(config, seeds, records=records, jobs=args.jobs)
    print(result.out)
    return 0
