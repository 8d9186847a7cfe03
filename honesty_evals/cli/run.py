"""`honesty-evals run TASK`: one task on one model, and its headline figure with its CI."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from honesty_evals.common.keyvalues import parse_key_values
from honesty_evals.tasklist import listed_task_names

# the listed names, read without importing the tasks (the parser must stay instant); a
# task is looked up in the registry when it runs
TASKS = listed_task_names()


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
        "--model-role",
        action="append",
        metavar="ROLE=MODEL",
        help="a model for a role the task asks for, e.g. grader=openai/gpt-4o "
        "(emergent_misalignment's judge); repeat for several roles",
    )
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


def cmd_run(args: argparse.Namespace) -> int:
    from inspect_ai import eval as inspect_eval

    from honesty_evals._registry import task_info
    from honesty_evals.common.outputs import check_output_dir
    from honesty_evals.model.resolve import resolve_model

    info = task_info(args.task)  # an unknown name: one line listing the tasks
    task_args = parse_key_values(args.T, "-T")
    if args.allow_unverified:
        task_args["allow_unverified"] = True
    model_args = parse_key_values(args.M, "-M")
    check_output_dir(args.log_dir, "--log-dir")
    # the model first: an unknown provider or a bad -M value is one line, not Inspect's
    # multi-line error after the task was built
    model = resolve_model(args.model, model_args)
    roles = {
        role: resolve_model(str(name), {})
        for role, name in parse_key_values(args.model_role, "--model-role").items()
    }
    logs = inspect_eval(
        info.inspect_name,
        model=model,
        model_roles=roles or None,
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
    print(info.headline(log))
    return 0
