"""The audit report's plots, as PNG bytes: per-task bars, the gates' forest plot, the scan."""

from __future__ import annotations

import io
import math
from typing import Any

from honesty_evals.audit.report.data import (
    is_finite_number,
    metric_label,
    number,
    short_status,
)
from honesty_evals.audit.runner import AuditResult

COLOURS = {"candidate": "#c2410c", "baseline": "#1d4ed8", "pass": "#15803d", "fail": "#b91c1c"}
COLOURS_SIDES = ("candidate", "baseline")
STATUS_COLOURS = {
    "pass": "#15803d",
    "fail": "#b91c1c",
    "underpowered": "#a16207",
    "unmeasured": "#a16207",
    "not_comparable": "#a16207",
}


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
            if not is_finite_number(value):
                ax.text(i, 0.05, "n/a", ha="center", color="#555")
                continue
            ax.bar(i, value, width=0.6, color=COLOURS[side], alpha=0.85)
            seeds = s.get("seed_means") or []
            if seeds:  # a seed family: each seed's own value as a dot on its bar
                ax.scatter([i] * len(seeds), seeds, s=14, color="black", zorder=3)
            top = s["ci_high"] if is_finite_number(s.get("ci_high")) else value
            ax.text(i, max(top, value) + 0.03, f"{value:.2f}", ha="center", va="bottom")
            if not (is_finite_number(s.get("ci_low")) and is_finite_number(s.get("ci_high"))):
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
            low
            for side in (g.candidate, g.baseline)
            if side and is_finite_number(low := side.get("ci_low"))
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
        if is_finite_number(v)
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
        if is_finite_number(g.value):
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
            if not is_finite_number(change):
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
        if is_finite_number(g.value):
            right.errorbar(
                g.value, y, xerr=_err(g.value, g.ci_low, g.ci_high), fmt="o",
                color=STATUS_COLOURS[g.status], capsize=5, markersize=7, linewidth=2,
            )  # fmt: skip
            # the number beside the marker, on the side with room
            toward = -1 if g.value > 0.5 else 1
            right.text(
                g.value + toward * 0.08, y + 0.12, number(g.value, 2, signed=True),
                ha="right" if toward < 0 else "left", va="bottom", fontsize=10,
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
