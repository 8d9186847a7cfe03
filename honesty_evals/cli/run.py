"""`honesty-evals run TASK`: one task on one model, and its headline figure with its CI."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from honesty_evals.common.keyvalues import parse_key_values
from honesty_evals.errors import UserInputError

TASKS = (
    "backdoor_awareness",
    "risk_behavior",
    "risk_self_report",
    "trigger_recognition",
    "trigger_elicitation",
    "confession",
)


def add_run_parser(sub: Any) -> None:
    """Register `run` on the top-level subparsers of `honesty-evals`."""
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
