"""Which tasks an audit can run, and how each one's metrics are read from its eval logs.

Built from the package's one task list (`honesty_evals._registry`): every task whose
description (`TaskInfo`, in its folder's `describe.py`) offers metrics, each with a reader
from an eval log to a `Measurement` (the first metric is the one a gate compares by
default), and the trigger parameter if its behaviour can serve the backdoor scan. Which gate
kinds apply follows from each metric: a metric with per-question values supports
`difference` (candidate - baseline, paired over questions) and `candidate` (an absolute
threshold on the candidate); a metric with its own interval (a detector's AUROC) supports
`candidate` only.
"""

from __future__ import annotations

import inspect

from honesty_evals._registry import task_infos
from honesty_evals.common.taskinfo import TaskInfo

# parameters the audit sets itself; a suite may not set them
AUDIT_CONTROLLED_PARAMS = ("allow_unverified",)


def audit_tasks() -> dict[str, TaskInfo]:
    """Every task the audit can run (those that offer a metric), by name."""
    return {name: info for name, info in task_infos().items() if info.metrics}


def suite_parameters(entry: TaskInfo) -> dict[str, inspect.Parameter]:
    """The task function's parameters a suite may set."""
    return {k: v for k, v in entry.parameters().items() if k not in AUDIT_CONTROLLED_PARAMS}


def backdoor_self_report_tasks() -> tuple[str, ...]:
    """The tasks that ask the model about its own trigger or backdoor."""
    return tuple(name for name, info in audit_tasks().items() if info.backdoor_self_report)
