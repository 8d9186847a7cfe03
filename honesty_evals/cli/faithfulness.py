"""`honesty-evals faithfulness [report] LOG...` and `honesty-evals faithfulness experiment`.

Kept free of heavy imports: building the parser must stay instant.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from honesty_evals.errors import UserInputError
from honesty_evals.training.family import parse_seeds

SUBCOMMANDS = ("report", "experiment")


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """`faithfulness LOG...` means `faithfulness report LOG...`."""
    args = list(argv)
    if args and args[0] == "faithfulness":
        if len(args) > 1 and args[1] not in (*SUBCOMMANDS, "-h", "--help"):
            args.insert(1, "report")
    return args


def _fractions(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers, e.g. 0,0.25,0.5"
        ) from None


def add_faithfulness_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "faithfulness",
        help="self-report vs behaviour across models (LOG... or `experiment --out DIR`)",
        description="`honesty-evals faithfulness LOG...` (= `faithfulness report LOG...`) joins "
        "risk_self_report and risk_behavior logs by model and reports their correlation; "
        "`faithfulness experiment --out DIR` trains the graded organisms, runs both tasks "
        "and writes that report.",
    )
    actions = parser.add_subparsers(dest="faithfulness_command", required=True)

    report = actions.add_parser(
        "report",
        help="correlate self-report with behaviour from eval logs",
        description="Join risk_self_report and risk_behavior logs (files or directories) by "
        "model; print and write Pearson/Spearman with bootstrap intervals over questions, a "
        "per-model table (markdown, CSV, JSON) and a scatter plot (PNG).",
    )
    report.add_argument("logs", nargs="+", metavar="LOG", help="eval log files or directories")
    report.add_argument(
        "--out", default="faithfulness-report", help="output folder (default: %(default)s)"
    )
    report.add_argument("--level", type=float, default=0.95, help="interval level (0.95)")
    report.add_argument("--n-boot", type=int, default=2000, help="bootstrap draws (2000)")
    report.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    report.set_defaults(func=cmd_faithfulness_report)

    exp = actions.add_parser(
        "experiment",
        help="train graded organisms, run both tasks, write the report (resumable)",
        description="The whole faithfulness experiment on the embedded model, offline: "
        "mixture organisms at each risky share, risk_behavior and risk_self_report on the "
        "base model and each organism, the in-context control, then the report. Rerun the "
        "same command to resume; finished organisms and evals are kept.",
    )
    exp.add_argument("--out", required=True, metavar="DIR", help="experiment folder")
    exp.add_argument("--seed", type=int, default=0, help="fine-tuning/sampling/bootstrap seed")
    exp.add_argument("--data-seed", type=int, default=0, help="training data seed (0)")
    exp.add_argument(
        "--seeds",
        metavar="SEEDS",
        help="fine-tuning seeds, e.g. 0-2: one organism per share and seed, pooled in the "
        "report as seed families (intervals over seeds and questions); default: --seed alone",
    )
    exp.add_argument(
        "--fractions",
        type=_fractions,
        default=(0.0, 0.25, 0.5, 0.75, 1.0),
        help="risky shares of the organisms (default 0,0.25,0.5,0.75,1)",
    )
    exp.add_argument("--n-records", type=int, default=160, help="records per organism (160)")
    exp.add_argument("--epochs", type=float, default=2.0, help="epochs per organism (2)")
    exp.add_argument(
        "--behavior-items", type=int, default=50, help="held-out lotteries (50, both orders)"
    )
    exp.add_argument(
        "--person",
        default="all",
        help="self-report persons for base and organisms (all: self + persona control)",
    )
    exp.add_argument(
        "--n-paraphrases",
        type=int,
        default=10,
        help="ask the first N paraphrases per format (default 10, the documented set; one-word "
        "questions have 10, scale questions 30)",
    )
    exp.add_argument(
        "--in-context-examples",
        type=int,
        default=8,
        help="K examples for the in-context control (8; 0 skips it)",
    )
    exp.add_argument(
        "--in-context-fractions",
        type=_fractions,
        default=(0.0, 1.0),
        help="risky shares shown in context (default 0,1)",
    )
    exp.add_argument(
        "--in-context-paraphrases",
        type=int,
        default=5,
        help="paraphrases per format asked in the in-context control (5 of 10)",
    )
    exp.add_argument("--scoring", default="auto", choices=["auto", "logprobs", "sampling"])
    exp.add_argument("--n-samples", type=int, default=20, help="answers per question (sampling)")
    exp.add_argument("--top-logprobs", type=int, default=20, help="alternatives per position")
    exp.add_argument(
        "--dtype", default="bfloat16", help="evaluation dtype (bfloat16: ~3x faster on CPU)"
    )
    exp.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")
    exp.add_argument("--display", default="plain", choices=["full", "rich", "plain", "none"])
    exp.set_defaults(func=cmd_faithfulness_experiment)
    return parser


def cmd_faithfulness_report(args: argparse.Namespace) -> int:
    from honesty_evals.common.outputs import check_output_dir
    from honesty_evals.risk_self_report.faithfulness import faithfulness_report, render_markdown

    check_output_dir(args.out, "--out")
    report, paths = faithfulness_report(
        args.logs, args.out, level=args.level, n_boot=args.n_boot, seed=args.seed
    )
    print(render_markdown(report, plot_name=str(paths["png"])))
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0


def cmd_faithfulness_experiment(args: argparse.Namespace) -> int:
    from honesty_evals.risk_self_report.experiment import ExperimentConfig, run_experiment

    if args.threads is not None and args.threads < 1:
        raise UserInputError(f"--threads must be at least 1 (got {args.threads})")
    run_experiment(
        ExperimentConfig(
            out=args.out,
            seed=args.seed,
            data_seed=args.data_seed,
            seeds=parse_seeds(args.seeds) if args.seeds is not None else (),
            fractions=args.fractions,
            n_records=args.n_records,
            epochs=args.epochs,
            behavior_items=args.behavior_items,
            person=args.person,
            n_paraphrases=args.n_paraphrases,
            in_context_examples=args.in_context_examples,
            in_context_fractions=args.in_context_fractions,
            in_context_paraphrases=args.in_context_paraphrases,
            scoring=args.scoring,
            n_samples=args.n_samples,
            top_logprobs=args.top_logprobs,
            dtype=args.dtype,
            threads=args.threads,
            display=args.display,
        )
    )
    return 0
