"""Which verdicts a suite's gates can reach at the number of questions they ask.

Checked before any model runs: from the built tasks (each sample names its question) the
audit knows the most questions a gate can rest on. A gate that can neither pass nor show a
violation at that n is refused; one that can only fail or be underpowered is reported as
such (`underpowered` is never a pass). The n a verdict needs comes from the exact rule for
tied values (`stats.n_for_tied_verdict`), and is never below
`gates.MIN_VERDICT_QUESTIONS` (see `gates.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from honesty_evals.audit.gates import (
    MIN_SCAN_QUESTIONS,
    MIN_VERDICT_QUESTIONS,
    Threshold,
    difference_bounds,
    one_sided_alpha,
    verdict_questions,
)
from honesty_evals.audit.registry import audit_tasks
from honesty_evals.audit.suite import GateSpec, Suite, run_key
from honesty_evals.common.stats import Bounds
from honesty_evals.errors import UserInputError


@dataclass(frozen=True)
class GatePower:
    """What a gate can decide with the questions its task asks."""

    gate: str  # the gate's id, as the report names it
    key: str  # where it is in the suite file
    n: int  # questions the task asks (an upper bound: unparsed ones drop out)
    n_to_pass: int | None  # None: no number of questions passes it
    n_to_exceed: int | None

    @property
    def can_pass(self) -> bool:
        return self.n_to_pass is not None and self.n >= self.n_to_pass

    @property
    def can_exceed(self) -> bool:
        return self.n_to_exceed is not None and self.n >= self.n_to_exceed

    def describe(self) -> str:
        def need(n: int | None) -> str:
            return "no number of questions" if n is None else f"{n} questions"

        return (
            f"{self.gate}: {self.n} questions; a pass needs {need(self.n_to_pass)}, a finding "
            f"{need(self.n_to_exceed)}"
        )


def question_counts(tasks: Sequence[Any]) -> dict[str, int]:
    """Distinct questions per eval (run key), from built Inspect tasks."""
    from honesty_evals.audit.runner import RUN_KEY

    counts: dict[str, int] = {}
    for task in tasks:
        ids = {(s.metadata or {}).get("question_id", s.id) for s in task.dataset}
        counts[task.metadata[RUN_KEY]] = len(ids)
    return counts


def _power(gate_id: str, gate: GateSpec, n: int, bounds: Bounds, paired: bool) -> GatePower:
    alpha = one_sided_alpha(gate.level)
    threshold: Threshold = gate.threshold
    minimum = MIN_VERDICT_QUESTIONS
    if gate.kind == "candidate":
        best = bounds[0] if threshold.kind == "max" else bounds[1]
        if threshold.kind == "max_abs":
            best = 0.0
        value_bounds = bounds
    else:
        best, value_bounds = 0.0, difference_bounds(bounds)
        if gate.kind == "trigger_scan":
            value_bounds = difference_bounds(value_bounds)
            minimum = MIN_SCAN_QUESTIONS
    return GatePower(
        gate=gate_id,
        key=gate.key,
        n=n,
        n_to_pass=verdict_questions(threshold.n_to_pass(best, value_bounds, alpha)),
        n_to_exceed=verdict_questions(threshold.n_to_exceed(value_bounds, alpha), minimum),
    )


def suite_power(suite: Suite, counts: dict[str, int]) -> list[GatePower]:
    """Every mean-based gate's attainable verdicts (estimate gates such as AUROC have none)."""
    registry = audit_tasks()
    out: list[GatePower] = []
    for spec in suite.tasks:
        n = counts.get(run_key(spec.task, spec.params), 0)
        for gate in spec.gates:
            metric = registry[spec.task].metric(gate.metric)
            if metric is None or not metric.paired:
                continue
            gate_id = f"{spec.id}: {gate.metric} ({gate.kind})"
            out.append(_power(gate_id, gate, n, metric.bounds, metric.paired))
    if suite.scan is not None:
        scan = suite.scan
        metric = registry[scan.task].metric(scan.gate.metric)
        param = registry[scan.task].trigger_param or "trigger"
        n = counts.get(run_key(scan.task, {**scan.params, param: None}), 0)
        if metric is not None:
            out.append(_power("backdoor scan (each trigger)", scan.gate, n, metric.bounds, True))
    return out


def check_suite_power(suite: Suite, counts: dict[str, int]) -> list[str]:
    """Refuse gates that can reach no verdict; return warnings for ones that cannot pass."""
    powers = suite_power(suite, counts)
    for p in powers:
        if not p.can_pass and not p.can_exceed:
            raise UserInputError(
                f"{suite.path}: {p.key}: this gate can never reach a verdict: {p.describe()}; "
                "ask more questions (the task's n_items / n_paraphrases / n_per_topic) or "
                "loosen the threshold"
            )
    return [
        f"underpowered gate: {p.describe()}: it can show a violation but never pass"
        for p in powers
        if not p.can_pass
    ]
