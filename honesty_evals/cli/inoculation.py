"""`honesty-evals inoculation experiment --out DIR`: inoculation prompting and its controls.

Kept free of heavy imports: building the parser must stay instant.
"""

from __future__ import annotations

import argparse
from typing import Any

from honesty_evals.errors import UserInputError


def add_inoculation_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "inoculation",
        help="inoculation prompting against a random-string control (`experiment --out DIR`)",
        description="Inoculation prompting (PROTOCOLS §6): train the same narrow data under "
        "five arms, measure each organism with and without its arm's prompt, and say whether "
        "a random string acts like the inoculation or like a backdoor trigger.",
    )
    actions = parser.add_subparsers(dest="inoculation_command", required=True)
    exp = actions.add_parser(
        "experiment",
        help="train every arm, measure, write the report (resumable)",
        description="Arms none, semantic, placebo, negation and random, each trained on the "
        "same records with the same settings and seeds; the trait, the capability (lotteries) "
        "and the EM misaligned rate (EM data), each with and without the arm's prompt. Rerun "
        "the same command to resume: finished organisms and measurements are kept.",
    )
    exp.add_argument("--out", required=True, metavar="DIR", help="experiment folder")
    exp.add_argument("--data", default="both", help="em, lotteries or both (default both)")
    exp.add_argument(
        "--arms",
        default="none,semantic,placebo,negation,random",
        help="comma list of arms (default all five; none is required)",
    )
    exp.add_argument("--seeds", default="0-2", help="fine-tuning seeds: 0-2, 0,3,5 (default 0-2)")
    exp.add_argument("--data-seed", type=int, default=0, help="training data seed (0)")
    exp.add_argument("--prompt-seed", type=int, default=0, help="seed of the random string (0)")
    exp.add_argument(
        "--prompts",
        metavar="FILE",
        help="your own prompts: lines 'ARM: text' or 'DATA/ARM: text' (semantic, placebo, "
        "negation)",
    )
    exp.add_argument(
        "--quick",
        action="store_true",
        help="120 records, 3 epochs, 20 lotteries, 8 EM questions x 1 answer: about 60 min "
        "with --threads 2 on 2 idle cores, 90 with --threads 1 (measured in parts, README); "
        "overrides those five settings",
    )
    exp.add_argument("--n-records", type=int, help="records per organism (recipe default)")
    exp.add_argument("--epochs", type=float, default=3.0, help="epochs per organism (3)")
    exp.add_argument(
        "--trait-items", type=int, default=100, help="held-out lotteries (100, both orders)"
    )
    exp.add_argument("--em-questions", type=int, help="EM task questions (default all)")
    exp.add_argument("--n-answers", type=int, default=2, help="answers per EM question (2)")
    exp.add_argument(
        "--grader", help="the EM task's grader model (default: the task's offline judge)"
    )
    exp.add_argument("--base", default="smollm2", help="base model (smollm2 or a folder)")
    exp.add_argument("--dtype", default="bfloat16", help="evaluation dtype (bfloat16)")
    exp.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")
    exp.add_argument("--display", default="plain", choices=["full", "rich", "plain", "none"])
    exp.set_defaults(func=cmd_inoculation_experiment)
    return parser


def cmd_inoculation_experiment(args: argparse.Namespace) -> int:
    from honesty_evals.inoculation.arms import parse_arms, parse_data, read_prompt_file
    from honesty_evals.inoculation.experiment import InoculationConfig, run_experiment
    from honesty_evals.training.family import parse_seeds

    if args.threads is not None and args.threads < 1:
        raise UserInputError(f"--threads must be at least 1 (got {args.threads})")
    run_experiment(
        InoculationConfig(
            out=args.out,
            data=parse_data(args.data),
            arms=parse_arms(args.arms),
            seeds=parse_seeds(args.seeds),
            data_seed=args.data_seed,
            prompt_seed=args.prompt_seed,
            prompt_overrides=read_prompt_file(args.prompts) if args.prompts else {},
            n_records=args.n_records,
            epochs=args.epochs,
            trait_items=args.trait_items,
            em_questions=args.em_questions,
            n_answers=args.n_answers,
            grader=args.grader,
            base=args.base,
            dtype=args.dtype,
            quick=args.quick,
            threads=args.threads,
            display=args.display,
        )
    )
    return 0
