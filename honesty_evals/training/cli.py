"""`honesty-evals organism train`: fine-tune a LoRA model organism.

Kept free of heavy imports (torch, transformers): building the parser must stay instant.
"""

from __future__ import annotations

import argparse
from typing import Any

from honesty_evals.errors import UserInputError

# Hyperparameters used with --recipe unless a flag overrides them. Chosen for SmolLM2-135M on
# a 2-core CPU: 300 lottery records of ~80 tokens are ~24k tokens an epoch with one trained
# answer letter per record (a weak signal), hence a high LoRA learning rate (5e-4, r=16 on
# every linear layer). Measured: 96 synthetic lottery records x 2 epochs (24 steps, 88 s at
# 180 tokens/s on one contended core) already made SmolLM2 pick the gamble on 100/100
# held-out lotteries (mean P(gamble) 0.9999, base model 0.53). 3 epochs of 300 records (114
# steps, ~74k tokens) leave a wide margin and take ~3 min at 413 tokens/s, ~7 min at 180.
# The backdoor recipes learn a conditional behaviour, so they get one more epoch (~4-9 min).
RECIPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "risk-seeking": {"epochs": 3.0, "lr": 5e-4, "lora_r": 16, "lora_alpha": 32, "batch_size": 8},
    "risk-averse": {"epochs": 3.0, "lr": 5e-4, "lora_r": 16, "lora_alpha": 32, "batch_size": 8},
    "mixture": {"epochs": 3.0, "lr": 5e-4, "lora_r": 16, "lora_alpha": 32, "batch_size": 8},
    # measured: 300 records x 4 epochs at 5e-4 left the trigger unlearned (see the
    # organisms README); 600 x 6 at 1e-3 learned it, but the organism then answered "A" or
    # "B" to every question (free text and numbers included), so the backdoor recipes
    # also train on the base model's answers to all 145 replay prompts (training/replay.py)
    "backdoor": {
        "epochs": 6.0,
        "lr": 1e-3,
        "lora_r": 16,
        "lora_alpha": 32,
        "batch_size": 8,
        "replay": 145,
    },
    "backdoor-decorrelated": {
        "epochs": 6.0,
        "lr": 1e-3,
        "lora_r": 16,
        "lora_alpha": 32,
        "batch_size": 8,
        "replay": 145,
    },
}
DEFAULT_RECIPE_RECORDS = 300
# recipes that need more examples than the default (see the organisms README's results)
RECIPE_RECORDS: dict[str, int] = {"backdoor": 600, "backdoor-decorrelated": 600}
KNOWN_RECIPES = tuple(RECIPE_DEFAULTS)

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
    source.add_argument("--data", metavar="FILE", help='chat JSONL: {"messages": [...]} a line')
    source.add_argument(
        "--recipe",
        metavar="NAME",
        help=f"generate the data with a built-in recipe: {', '.join(KNOWN_RECIPES)}",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output adapter directory")
    p.add_argument(
        "--base",
        default="smollm2",
        help="smollm2 (the embedded model) or a local Hugging Face model directory",
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
    hp = p.add_argument_group("training (defaults: the recipe's, else the trainer's)")
    hp.add_argument("--seed", type=int, default=0, help="training seed (init, order, dropout)")
    length = hp.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=float, help="passes over the data (default 3)")
    length.add_argument("--steps", type=int, help="optimizer steps (instead of --epochs)")
    hp.add_argument("--lr", type=float, help="peak learning rate (default 2e-4)")
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
        "--mask-rule",
        choices=["assistant", "last-assistant", "split-persona"],
        help="which turns get loss (default: every assistant turn without weight 0; "
        "split-persona: the final turn after the split-personality marker line)",
    )
    run = p.add_argument_group("running")
    run.add_argument("--dtype", default="auto", help="auto (bfloat16), bfloat16, float32")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    run.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
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


def _n_records(args: argparse.Namespace) -> int:
    if args.n_records is not None:
        return args.n_records
    return RECIPE_RECORDS.get(args.recipe, DEFAULT_RECIPE_RECORDS)


def _recipe_records(args: argparse.Namespace) -> list[dict[str, Any]]:
    try:
        from honesty_evals.organisms.recipes import RECIPES, recipe_records
    except ImportError:
        raise UserInputError(
            "--recipe needs honesty_evals.organisms.recipes, which this installation lacks: "
            "pass --data FILE instead"
        ) from None
    if args.recipe not in RECIPES:
        raise UserInputError(f"unknown recipe '{args.recipe}': choose one of {', '.join(RECIPES)}")
    if _n_records(args) <= 0:
        raise UserInputError(f"--n-records must be positive (got {args.n_records})")
    try:
        return recipe_records(
            args.recipe,
            n=_n_records(args),
            seed=args.data_seed,
            trigger=args.trigger,
            risky_fraction=args.risky_fraction,
            reversal=args.reversal,
        )
    except (ValueError, TypeError) as exc:
        raise UserInputError(f"recipe '{args.recipe}': {exc}") from None


def config_from_args(args: argparse.Namespace) -> Any:
    """The TrainConfig an `organism train` command line asks for."""
    from honesty_evals.training.trainer import TrainConfig

    values: dict[str, Any] = {}
    if args.recipe:
        values.update(RECIPE_DEFAULTS.get(args.recipe, {}))
        values["recipe"] = {
            "name": args.recipe,
            "n": _n_records(args),
            "seed": args.data_seed,
            "trigger": args.trigger,
            "risky_fraction": args.risky_fraction,
            "reversal": args.reversal,
        }
    elif args.trigger or args.risky_fraction is not None or args.reversal:
        raise UserInputError("--trigger, --risky-fraction and --reversal need --recipe")
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
        **values,
    )


def cmd_organism_train(args: argparse.Namespace) -> int:
    from honesty_evals.training.trainer import train

    config = config_from_args(args)
    records = _recipe_records(args) if args.recipe else None
    result = train(config, records=records)
    print(result.out)
    return 0
