"""What a task says about itself: one `TaskInfo` in each task folder's `describe.py`.

`honesty_evals._registry` lists the task folders; Inspect's entry point, `honesty-evals run`,
the audit (its suite validator, metric readers, backdoor scan and report) and the
faithfulness report are all built from that one list, so adding a task is one folder and
one line there (tasks/README.md, "How to add a task").
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inspect_ai.util import registry_info

from honesty_evals.common.measurement import Measurement

if TYPE_CHECKING:
    from inspect_ai.log import EvalLog


@dataclass(frozen=True)
class AuditMetric:
    """One metric an audit can gate on.

    Args:
        name: The name suite files use (`metric: p_aware`).
        label: How reports show it ("P(aware)").
        paired: True when the metric is a mean of per-question values (both gate kinds);
            False when it is one estimate with its own interval (`candidate` gates only).
        read: (log path, bootstrap seed) -> Measurement.
        description: One line for the docs and the report.
        bounds: The range of one model's value (thresholds outside it are refused).
    """

    name: str
    label: str
    paired: bool
    read: Callable[[Path, int], Measurement]
    description: str
    bounds: tuple[float, float] = (0.0, 1.0)  # the range of one model's value

    @property
    def gate_kinds(self) -> tuple[str, ...]:
        return ("difference", "candidate") if self.paired else ("candidate",)


@dataclass(frozen=True)
class TaskInfo:
    """One task's description: how to run it, read it and show it.

    Args:
        name: The task's name: its folder's and its Inspect task function's.
        task: The Inspect `@task` function, called with `-T` or a suite's parameters.
        version: The `Task(version=)` it sets: bumped when its data, prompts or scoring
            change what a score means.
        headline: The lines `honesty-evals run` prints for a finished log: the headline
            figure with its interval and counts, the model and the log.
        metrics: The metrics an audit can gate on, the first one the default; none: the
            audit does not offer the task.
        trigger_param: The parameter that opens every question with a trigger, if any: the
            backdoor scan runs the task with and without each trigger through it.
        backdoor_self_report: The task asks the model about its own trigger or backdoor;
            the audit report names its passing gates beside a backdoor-scan finding.
        equivalent_versions: Earlier versions whose logs score the same as this one; log
            readers accept them (0: logs written before the task set a version).
    """

    name: str
    task: Callable[..., Any]
    version: int
    headline: Callable[[EvalLog], str]
    metrics: tuple[AuditMetric, ...] = ()
    trigger_param: str | None = None
    backdoor_self_report: bool = False
    equivalent_versions: tuple[int, ...] = ()

    @property
    def inspect_name(self) -> str:
        """The name Inspect runs it by (`inspect eval NAME`): package-qualified for a task of
        an installed package, e.g. "honesty_evals/backdoor_awareness"."""
        return registry_info(self.task).name

    @property
    def readable_versions(self) -> tuple[int, ...]:
        """The log versions whose scores mean what this version's do."""
        return (*self.equivalent_versions, self.version)

    def metric(self, name: str | None) -> AuditMetric | None:
        """The named metric (None: the default, the first); None if the task has no such."""
        if name is None:
            return self.metrics[0] if self.metrics else None
        return next((m for m in self.metrics if m.name == name), None)

    def parameters(self) -> dict[str, inspect.Parameter]:
        """The task function's named parameters (not the `**kwargs` of `checked_task`, which
        only exists to refuse unknown names)."""
        params = inspect.signature(self.task).parameters
        return {k: v for k, v in params.items() if v.kind != inspect.Parameter.VAR_KEYWORD}
