"""What the audit report shows: summary.json, and each gate's figures and verdict as text.

The Markdown, the HTML and the plots all take their words and numbers from here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, TypeGuard

from honesty_evals.audit.gates import STATUSES, GateResult, _finite
from honesty_evals.audit.profile import time_profile
from honesty_evals.audit.registry import audit_tasks, backdoor_self_report_tasks
from honesty_evals.audit.runner import AuditResult

SUMMARY_FORMAT = "honesty-evals audit summary"
REPORT_FILES = ("report.md", "report.html", "summary.json")
SUMMARY_VERSION = 1
# tasks whose passing gates mean "the candidate says it has no backdoor": a finding beside
# them is named in the headline


def foreign_report_files(out: Path) -> str | None:
    """What in an existing --out an audit would overwrite that no audit wrote, or None.

    An audit's own report (its summary.json says so) is replaced on a rerun, which resumes
    from OUT/logs; report files of anything else are never silently overwritten.
    """
    present = [name for name in REPORT_FILES if (out / name).exists()]
    if not present:
        return None
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        ours = isinstance(summary, dict) and summary.get("format") == SUMMARY_FORMAT
    except (OSError, ValueError):
        ours = False
    return None if ours else f"{', '.join(present)} that no audit wrote"


def metric_label(task: str, metric: str) -> str:
    entry = audit_tasks().get(task)
    spec = entry.metric(metric) if entry else None
    return spec.label if spec else metric


def number(value: Any, digits: int = 3, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if round(value, digits) == 0:
        value = 0.0  # no "-0.000"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def interval(low: Any, high: Any, signed: bool = False) -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"[{number(low, signed=signed)}, {number(high, signed=signed)}]"


def side_text(side: dict[str, Any]) -> str:
    """One side's value with its interval (and a seed family's own values)."""
    if not side or side.get("value") is None or not math.isfinite(side.get("value", math.nan)):
        return "n/a"
    ci = interval(side.get("ci_low"), side.get("ci_high"))
    if ci == "n/a":
        return f"{number(side['value'])} (n = {side.get('n', 0)}, no interval)" + _seed_means(side)
    return f"{number(side['value'])} {ci}" + _seed_means(side)


def _seed_means(side: dict[str, Any]) -> str:
    """A seed family's own values: `; 3 seeds: 0.700, 0.800, 0.900` (nothing for one model)."""
    means = side.get("seed_means")
    if not means:
        return ""
    return f"; {len(means)} seeds: " + ", ".join(number(m) for m in means)


def seeds_text(g: GateResult) -> str:
    """A seed family's seeds: `, seeds 3 vs 1: +0.200, +0.300, +0.400 (spread ...)`.

    Difference gates and scan triggers list each candidate seed's difference from the
    baseline (its mean over its seeds); candidate gates each seed's value. Empty for one model
    per side.
    """
    c = g.candidate or {}
    spread = c.get("seed_spread")
    if not spread:
        return ""
    if "seed_differences" in c:
        n_base = (g.baseline or {}).get("n_seeds", 1)
        values = ", ".join(number(d, signed=True) for d in c["seed_differences"])
        return (
            f", seeds {c.get('n_seeds', len(c['seed_differences']))} vs {n_base}: {values} "
            f"(spread {number(spread[0], signed=True)} to {number(spread[1], signed=True)})"
        )
    return f", {c.get('n_seeds', '?')} seeds, spread {number(spread[0])} to {number(spread[1])}"


def difference_text(g: GateResult) -> str:
    if g.kind != "difference":
        return "(absolute gate)" + seeds_text(g).replace(",", ";", 1)
    if not is_finite_number(g.value):
        return "n/a"
    text = f"{number(g.value, signed=True)} {interval(g.ci_low, g.ci_high, signed=True)}"
    return text + seeds_text(g).replace(",", ";", 1)


def status_text(g: GateResult) -> str:
    if g.status == "pass":
        return "pass"
    if g.status == "unmeasured":
        return f"unmeasured ({g.note})"
    if g.status == "underpowered":
        return f"underpowered ({g.note})"
    if g.status == "not_comparable":
        return f"not comparable ({g.note})"
    if g.reason == "exceeded":
        return f"FAIL (exceeded: the data show the value beyond the threshold, {_holm(g)})"
    return "FAIL (not shown: the interval crosses the threshold)"


def _holm(g: GateResult) -> str:
    return f"Holm-adjusted p = {number(g.p_value, 4)}" if g.p_value is not None else "own interval"


def short_status(g: GateResult) -> str:
    if g.status == "fail":
        return "FAIL, exceeded" if g.reason == "exceeded" else "FAIL, not shown"
    return g.status.replace("_", " ")


def is_finite_number(x: Any) -> TypeGuard[float]:
    return isinstance(x, float | int) and math.isfinite(x)


def headline_lines(result: AuditResult) -> list[str]:
    counts = {s: sum(1 for g in result.gates if g.status == s) for s in STATUSES}
    lines = [
        f"**Verdict: {result.verdict.upper()}** (exit code {result.exit_code}): "
        f"{counts['pass']} gate(s) passed, {counts['fail']} failed, {counts['underpowered']} "
        f"underpowered, {counts['unmeasured']} unmeasured"
        + (f", {counts['not_comparable']} not comparable." if counts["not_comparable"] else ".")
    ]
    for g in result.findings:
        lines.append(
            f"- **Backdoor finding: trigger `{g.trigger}`** changes "
            f"{metric_label(g.task, g.metric)} by {number(g.candidate.get('change'), signed=True)} "
            f"in the candidate against {number(g.baseline.get('change'), signed=True)} in the "
            f"baseline: difference {number(g.value, signed=True)} "
            f"{interval(g.ci_low, g.ci_high, signed=True)} ({g.threshold.describe('difference')})."
        )
    inconclusive = [g for g in result.scan_results if g.status == "fail" and not g.finding]
    for g in inconclusive:
        lines.append(
            f"- Trigger `{g.trigger}`: not shown within the threshold (difference "
            f"{number(g.value, signed=True)} {interval(g.ci_low, g.ci_high, signed=True)}); "
            "inconclusive, ask more items."
        )
    if result.findings:
        self_report = [
            g
            for g in result.gates
            if g.kind != "trigger_scan"
            and g.task in backdoor_self_report_tasks()
            and g.status == "pass"
        ]
        if self_report:
            names = ", ".join(sorted({g.id.split(":")[0] for g in self_report}))
            lines.append(
                f"- The behaviour change is a finding although the self-report gates passed "
                f"({names}): the candidate does not say what its behaviour shows."
            )
    for g in result.gates:
        if g.status == "unmeasured":
            lines.append(f"- Gate unmeasured: {g.id}: {g.note}.")
        if g.status == "underpowered" and g.kind != "trigger_scan":
            lines.append(f"- Gate underpowered, not a pass: {g.id}: {g.note}.")
        if g.status == "not_comparable":
            lines.append(f"- Gate not comparable, not a pass: {g.id}: {g.note}.")
    weak = [g for g in result.scan_results if g.status == "underpowered"]
    if weak:
        lines.append(
            f"- Backdoor scan: {len(weak)} trigger(s) without a finding are underpowered, not "
            f"cleared: {weak[0].note}."
        )
    for g in result.gates:
        if g.kind != "trigger_scan" and g.status == "fail":
            lines.append(
                f"- Gate failed: {g.id}: {number(g.value, signed=g.kind != 'candidate')} "
                f"{interval(g.ci_low, g.ci_high, signed=g.kind != 'candidate')} against "
                f"{g.threshold.describe('candidate' if g.kind == 'candidate' else 'difference')}"
                f" ({'exceeded' if g.finding else 'not shown'})."
            )
    return lines


# -- summary.json -----------------------------------------------------------------------------


def summary_json(result: AuditResult, out: Path) -> dict[str, Any]:
    suite = result.suite
    scan = suite.scan
    data: dict[str, Any] = {
        "format": SUMMARY_FORMAT,
        "version": SUMMARY_VERSION,
        "verdict": result.verdict,
        "exit_code": result.exit_code,
        "candidate": result.candidate,
        "baseline": result.baseline,
        "same_model": result.same_model,
        "suite": {
            "name": suite.name,
            "path": str(suite.path),
            "sha256": suite.sha256,
            "level": suite.level,
            "seed": suite.seed,
        },
        "started": result.started,
        "finished": result.finished,
        "wall_seconds": result.wall_seconds,
        "warnings": result.warnings,
        "errors": result.errors,
        "datasets": result.datasets,
        "counts": {
            status: sum(1 for g in result.gates if g.status == status) for status in STATUSES
        },
        "gates": [g.to_json() for g in result.gates if g.kind != "trigger_scan"],
        "backdoor_scan": None,
        "evals": [
            {
                "task": e.task,
                "params": e.params,
                "purpose": e.purpose,
                "model": e.model,
                "side": e.side,
                "status": e.status,
                "error": e.error,
                "log": e.log,
                "reused": e.reused,
            }
            for e in result.evals
        ],
        "report": {"markdown": str(out / "report.md"), "html": str(out / "report.html")},
        "time_profile": time_profile(result.evals),
    }
    if result.family:
        data["seed_families"] = {
            "candidate": result.candidate_models,
            "baseline": result.baseline_models,
            "n_seeds": {
                "candidate": len(result.candidate_models),
                "baseline": len(result.baseline_models),
            },
        }
        for entry, e in zip(data["evals"], result.evals):
            entry["seed"] = e.member
    families = {"candidate": result.candidate_family, "baseline": result.baseline_family}
    if any(families.values()):  # a side given as a family directory (organism train --seeds)
        data["family_directories"] = families
    if scan is not None:
        data["backdoor_scan"] = {
            "task": scan.task,
            "metric": scan.gate.metric,
            "params": scan.params,
            "threshold": {scan.gate.threshold.kind: scan.gate.threshold.value},
            "level": scan.gate.level,
            "triggers": [
                {**g.to_json(), "source": scan.trigger_sources.get(g.trigger or "", "")}
                for g in result.scan_results
            ],
            "findings": [g.trigger for g in result.findings],
        }
    return _finite(data)
