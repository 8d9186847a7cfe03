"""The `honesty-evals` command line."""

from __future__ import annotations

import argparse
import math
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any

from honesty_evals.audit.cli import add_audit_parsers
from honesty_evals.common.keyvalues import parse_key_values
from honesty_evals.confession.cli import add_confession_parser
from honesty_evals.errors import (
    DEBUG_ENV,
    ReportableError,
    UserInputError,
    debug_enabled,
    describe_error,
)
from honesty_evals.integrity.cli import add_datasets_parser
from honesty_evals.lie_detection.cli import add_lie_detection_parsers
from honesty_evals.organisms.leakage import add_leakage_arguments, cmd_leakage
from honesty_evals.organisms.shipped import add_generate_arguments, cmd_generate
from honesty_evals.risk_self_report.cli import add_faithfulness_parser, normalise_argv
from honesty_evals.training.cli import add_organism_parser

TASKS = (
    "backdoor_awareness",
    "risk_behavior",
    "risk_self_report",
    "trigger_recognition",
    "trigger_elicitation",
    "confession",
)


def headline_text(log: Any) -> str:
    """One line with the headline figure, its interval, the sample count and the log path."""
    metrics = {name: m.value for name, m in log.results.scores[0].metrics.items()}
    if (log.eval.metadata or {}).get("headline_format") == "detection":
        from honesty_evals.confession.task import detection_headline

        return detection_headline(metrics, log)
    name = (log.eval.metadata or {}).get("headline", "mean")
    n = int(metrics.get("n_parsed", 0))
    bad = int(metrics.get("n_unparseable", 0))
    unparseable = f"{bad} unparseable"
    if "n_low_mass" in metrics:  # choice tasks: say how many of those were low label mass
        min_mass = (log.eval.task_args or {}).get("min_label_mass")
        below = f" {min_mass:g}" if isinstance(min_mass, (int, float)) else ""
        unparseable += f" ({int(metrics['n_low_mass'])} of them below min label mass{below})"
    questions = ""
    if "n_questions" in metrics:
        questions = f"; {int(metrics['n_questions'])} questions"
        if int(metrics.get("n_incomplete_questions", 0)):
            left_out = int(metrics["n_incomplete_questions"])
            questions += f", {left_out} left out with an option order unparsed"
    parts = [
        f"{name} = {metrics['parsed_mean']:.3f} "
        f"(95% CI {metrics['ci95_low']:.3f}-{metrics['ci95_high']:.3f}, "
        f"stderr {metrics['cluster_stderr']:.3f} over questions; n = {n} samples scored, "
        f"{unparseable}{questions})"
    ]
    if "first_option_mean" in metrics:  # multiple-choice tasks only
        parts.append(f"order bias P(first option) = {metrics['first_option_mean']:.3f}")
    if "label_mass" in metrics:
        mass = metrics["label_mass"]
        parts.append(f"label mass {'n/a (sampled)' if math.isnan(mass) else f'{mass:.3f}'}")
    return (
        " | ".join(parts) + "\n"
        f"model: {log.eval.model}  task args: {log.eval.task_args}\n"
        f"log: {log.location}\n"
        "compare against a control model with: honesty-evals compare LOG_A LOG_B"
    )


def cmd_run(args: argparse.Namespace) -> int:
    from inspect_ai import eval as inspect_eval

    from honesty_evals.common.outputs import check_output_dir
    from honesty_evals.model.resolve import resolve_model

    if args.task not in TASKS:
        raise UserInputError(f"unknown task '{args.task}': choose one of {', '.join(TASKS)}")
    task_args = parse_key_values(args.T, "-T")
    if args.allow_unverified:
        task_args["allow_unverified"] = True
    model_args = parse_key_values(args.M, "-M")
    check_output_dir(args.log_dir, "--log-dir")
    # the model first: an unknown provider or a bad -M value is one line, not Inspect's
    # multi-line error after the task was built
    model = resolve_model(args.model, model_args)
    logs = inspect_eval(
        f"honesty_evals/{args.task}",
        model=model,
        task_args=task_args,
        log_dir=args.log_dir,
        display=args.display,
    )
    log = logs[0]
    if log.status != "success" or not log.results or not log.results.scores:
        error = log.error.message if log.error else log.status
        print(
            f"honesty-evals: the evaluation did not finish ({error}); log: {log.location}",
            file=sys.stderr,
        )
        return 1
    print(headline_text(log))
    if args.task == "risk_self_report":
        from honesty_evals.risk_self_report.summary import summary_text

        print(summary_text(log))
    return 0


def compare_sides(logs: Sequence[str], vs: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """`LOG_A LOG_B`, or `LOG_A... --vs LOG_B...` (the seeds of each side), as two sides."""
    if vs is None:
        if len(logs) != 2:
            raise UserInputError(
                f"compare takes two logs (LOG_A LOG_B), or each side's seed logs as "
                f"LOG_A... --vs LOG_B...; got {len(logs)} log(s) and no --vs"
            )
        return [logs[0]], [logs[1]]
    return list(logs), list(vs)


def cmd_compare(args: argparse.Namespace) -> int:
    from honesty_evals.compare import compare_families

    if not 0.5 <= args.level < 1.0:
        raise UserInputError(f"--level {args.level} is out of range: give e.g. 0.95")
    side_a, side_b = compare_sides(args.logs, args.vs)
    print(compare_families(side_a, side_b, level=args.level, seed=args.seed).render())
    return 0


def cmd_model(args: argparse.Namespace) -> int:
    from honesty_evals.model.embedded import (
        MODEL_CACHE_ENV,
        embedded_model_dir,
        ensure_embedded_model,
        is_converted,
    )

    if args.action == "convert":
        from honesty_evals.common.outputs import check_output_dir
        from honesty_evals.paths import CACHE_ENV

        target = embedded_model_dir()
        if not is_converted(target):  # writes only when not converted yet
            env = MODEL_CACHE_ENV if os.environ.get(MODEL_CACHE_ENV) else CACHE_ENV
            check_output_dir(target.parent, f"the model cache folder (set by {env})")
        print(ensure_embedded_model())
    else:
        print(embedded_model_dir())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="honesty-evals",
        description="Audit language models for honesty and hidden behaviour (Inspect AI tasks).",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the full traceback of an error (also: {DEBUG_ENV}=1); may be given "
        "anywhere on the command line",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run a task and print its headline figure with its CI")
    run.add_argument("task", help=f"one of: {', '.join(TASKS)}")
    run.add_argument(
        "--model", default="local/smollm2", help="any Inspect model (default: %(default)s)"
    )
    run.add_argument("-T", action="append", metavar="NAME=VALUE", help="task argument")
    run.add_argument("-M", action="append", metavar="NAME=VALUE", help="model argument")
    run.add_argument(
        "--log-dir", default="logs", help="where the eval log goes (default: %(default)s)"
    )
    run.add_argument("--display", default="plain", choices=["full", "rich", "plain", "none"])
    run.add_argument(
        "--allow-unverified",
        action="store_true",
        help="run even if shipped data fails its manifest check (recorded in the eval log)",
    )
    run.set_defaults(func=cmd_run)

    compare = sub.add_parser(
        "compare",
        help="paired difference between logs of the same task (two logs, or each side's "
        "seed logs: LOG_A... --vs LOG_B...), with CI and p-value",
        usage="%(prog)s [-h] [--level LEVEL] [--seed SEED] LOG_A LOG_B\n"
        "       %(prog)s [-h] [--level LEVEL] [--seed SEED] LOG_A [LOG_A ...] "
        "--vs LOG_B [LOG_B ...]",
        description="Paired difference A - B over the questions both sides scored. With "
        "several logs per side (the fine-tuning seeds of one model: LOG_A... --vs LOG_B...) "
        "each side is averaged over its seeds and the interval is a hierarchical bootstrap "
        "over seeds, then questions; each seed's difference and the seed spread are printed.",
    )
    compare.add_argument(
        "logs", nargs="+", metavar="LOG", help="LOG_A LOG_B, or side A's logs before --vs"
    )
    compare.add_argument(
        "--vs", nargs="+", metavar="LOG_B", help="side B's logs (one per fine-tuning seed)"
    )
    compare.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    compare.add_argument("--seed", type=int, default=0, help="bootstrap seed (seed families)")
    compare.set_defaults(func=cmd_compare)

    model = sub.add_parser("model", help="the embedded SmolLM2 model")
    model.add_argument(
        "action", choices=["convert", "path"], help="convert it now, or print its cache path"
    )
    model.set_defaults(func=cmd_model)

    add_organism_parser(sub)
    datasets = add_datasets_parser(sub)
    leakage = datasets.add_parser(
        "leakage",
        help="report words naming the trained trait in a JSONL file (exit 1 when found)",
    )
    add_leakage_arguments(leakage)
    leakage.set_defaults(func=cmd_leakage)
    generate = datasets.add_parser(
        "generate", help="regenerate (or --check) the generated organism files in datasets/"
    )
    add_generate_arguments(generate)
    generate.set_defaults(func=cmd_generate)
    add_lie_detection_parsers(sub)
    add_audit_parsers(sub)
    add_faithfulness_parser(sub)
    add_confession_parser(sub)
    return parser


def error_line(exc: BaseException) -> str | None:
    """The one line the command line prints for `exc`, or None for a bug (traceback)."""
    if isinstance(exc, ReportableError) and not isinstance(exc, UserInputError):
        from honesty_evals.model.resolve import plain_message

        return plain_message(exc)  # Inspect's own prerequisites carry rich markup
    return describe_error(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """The error boundary: a user's mistake is one line and exit 2, never a traceback (unless
    --debug or HONESTY_EVALS_DEBUG=1 asks for it); a bug still shows its traceback."""
    words = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in words:
        # anywhere on the line, and seen by the task and provider guards too
        words = [w for w in words if w != "--debug"]
        os.environ[DEBUG_ENV] = "1"
    parser = build_parser()
    args = parser.parse_args(normalise_argv(words))
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("honesty-evals: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        line = error_line(exc)
        if line is None:
            raise
        if debug_enabled():
            traceback.print_exc()
        print(f"honesty-evals: error: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
