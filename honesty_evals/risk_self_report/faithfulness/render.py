"""The faithfulness report's outputs: Markdown, CSV, JSON and a PNG scatter."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from honesty_evals.common.atomic import write_bytes_atomic, write_text_atomic
from honesty_evals.errors import UserInputError
from honesty_evals.risk_self_report.faithfulness.report import FaithfulnessReport
from honesty_evals.risk_self_report.faithfulness.statistics import Interval

REPORT_NAME = "faithfulness"


def _fraction_text(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def render_markdown(report: FaithfulnessReport, plot_name: str | None = None) -> str:
    pct = f"{report.level:.0%}"
    families = [r for r in report.rows if r.n_seeds > 1]
    if families:
        seeds = ", ".join(f"{r.label} ({r.n_seeds})" for r in families)
        intervals = (
            f"Intervals: {pct} percentile bootstrap over seeds within each seed family, then "
            f"questions ({report.n_boot} draws, seed {report.seed}); the same question draws "
            f"for every model. Seed families (seeds): {seeds}; each is one point of the "
            "correlations, its value the mean over its seeds. Models without a seed suffix "
            "are one seed each: their intervals cover question sampling only."
        )
    else:
        intervals = (
            f"Intervals: {pct} percentile bootstrap over questions ({report.n_boot} draws, seed "
            f"{report.seed}); the same question draws for every model. They cover question "
            "sampling only, not fine-tuning-seed variation."
        )
    lines = [
        "# Faithfulness: self-reported risk-seeking vs measured behaviour",
        "",
        intervals,
        "",
        "Every model is measured on the same questions, those every model "
        + ("(every seed of each seed family) " if families else "")
        + "scored: "
        + "; ".join(
            f"{q.what} {q.used} of {q.asked}"
            + (f" ({len(q.dropped)} dropped: {', '.join(q.dropped)})" if q.dropped else "")
            for q in report.question_sets
            if q.asked
        )
        + ".",
        "",
    ]
    if report.main is not None:
        c = report.main
        lines += [
            f"**{c.what}** (n = {c.n_models} models): Pearson r = {c.pearson.text()}, "
            f"Spearman rho = {c.spearman.text()}"
            + (
                f"; {c.n_degenerate} of {c.n_boot} draws had a constant side and were left out"
                if c.n_degenerate
                else ""
            ),
            "",
            f"Across models: permutation p = {c.p_pearson:.3f} (Pearson), "
            f"{c.p_spearman:.3f} (Spearman) over {c.n_permutations} orderings; Pearson r with "
            f"one model left out ranges from {c.leave_one_out[0]:.3f} to "
            f"{c.leave_one_out[1]:.3f}.",
            "",
            "Published anchor (PROTOCOLS §2): r = 0.45 (risk-seeking side) and 0.67 "
            "(risk-averse side) across GPT-4o organisms.",
            "",
        ]
    for c in report.versus_fraction:
        lines.append(
            f"- {c.what} (n = {c.n_models}): Pearson r = {c.pearson.text()}, "
            f"Spearman rho = {c.spearman.text()}; permutation p = {c.p_pearson:.3f} / "
            f"{c.p_spearman:.3f}"
        )
    if report.versus_fraction:
        lines.append("")
    if report.missing_behavior or report.missing_self_report:
        if report.missing_behavior:
            lines.append(
                "**Missing risk_behavior logs** (left out of the correlation): "
                + ", ".join(report.missing_behavior)
            )
        if report.missing_self_report:
            lines.append(
                "**Missing risk_self_report logs** (left out of the correlation): "
                + ", ".join(report.missing_self_report)
            )
        lines.append("")
    seed_header = " seeds | seed spread: behaviour | seed spread: self-report |" if families else ""
    lines += [
        "| model | trained risky share | in-context examples (risky share) | behaviour P(risky) "
        "| self-report (first person) | one-word | 0-100 scale | third person (persona "
        "control) | first-person questions scored | answer mass | scoring |" + seed_header,
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        + (" --- | --- | --- |" if families else ""),
    ]
    for row in report.rows:
        icl = (
            f"{row.in_context_examples} ({row.in_context_risky_fraction:g})"
            if row.in_context_examples
            else ""
        )
        behavior = row.behavior.text() if row.behavior else "not measured"
        mass = "" if math.isnan(row.answer_mass) else f"{row.answer_mass:.3f}"
        seed_cells = (
            f" {row.n_seeds} | {_spread_text(row.behavior_seed_spread)} | "
            f"{_spread_text(row.self_report_seed_spread)} |"
            if families
            else ""
        )
        lines.append(
            f"| {row.label} | {_fraction_text(row.trained_risky_fraction)} | {icl} | "
            f"{behavior} | {row.self_report.text()} | {row.self_word.text()} | "
            f"{row.self_scale.text()} | {row.third_person.text()} | "
            f"{row.n_self_questions} of {row.n_self_asked} | {mass} | {row.method} |" + seed_cells
        )
    lines += [
        "",
        "Self-report: mean risk score over first-person questions (one-word answers 1 / 0.5 / 0 "
        "through the lexicon, scale answers / 100). Behaviour: mean P(uncertain option) over "
        "held-out lotteries, both option orders averaged. Answer mass: on the logprob path, "
        "the mean probability of first answer units the lexicon or the scale could score "
        "(the rest went to other words, refusals or unresolved prefixes).",
    ]
    if families:
        lines[-1] += (
            " Seed spread: the smallest and largest of a family's seeds' own means (a family's "
            "value is the mean over its seeds, question by question)."
        )
    if plot_name:
        lines += ["", f"![self-report vs behaviour]({plot_name})"]
    lines += ["", "Logs:", ""] + [f"- `{p}`" for p in report.logs]
    return "\n".join(lines) + "\n"


def _spread_text(spread: tuple[float, float] | None) -> str:
    return "" if spread is None else f"{spread[0]:.3f} to {spread[1]:.3f}"


def render_csv(report: FaithfulnessReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    header = [
        "label", "kind", "model_key", "trained_risky_fraction", "in_context_examples",
        "in_context_risky_fraction", "behavior", "behavior_low", "behavior_high",
        "self_report", "self_report_low", "self_report_high", "self_word", "self_word_low",
        "self_word_high", "self_scale", "self_scale_low", "self_scale_high", "third_person",
        "third_person_low", "third_person_high", "n_self_questions", "n_self_asked",
        "n_lotteries", "answer_mass", "method", "self_report_log", "behavior_log", "n_seeds",
        "seeds", "behavior_seed_min", "behavior_seed_max", "self_report_seed_min",
        "self_report_seed_max",
    ]  # fmt: skip
    writer.writerow(header)

    def iv(interval: Interval | None) -> list[Any]:
        if interval is None:
            return ["", "", ""]
        return [interval.estimate, interval.low, interval.high]

    for r in report.rows:
        writer.writerow(
            [r.label, r.kind, r.key, _fraction_text(r.trained_risky_fraction),
             r.in_context_examples, _fraction_text(r.in_context_risky_fraction),
             *iv(r.behavior), *iv(r.self_report), *iv(r.self_word), *iv(r.self_scale),
             *iv(r.third_person), r.n_self_questions, r.n_self_asked, r.n_lotteries,
             r.answer_mass, r.method, r.self_report_log or "", r.behavior_log or "",
             r.n_seeds, "; ".join(r.seeds), *(r.behavior_seed_spread or ("", "")),
             *(r.self_report_seed_spread or ("", ""))]
        )  # fmt: skip
    return out.getvalue()


def render_plot(report: FaithfulnessReport) -> bytes:
    """PNG scatter: behaviour vs self-report per model, error bars, least-squares line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report.rows if r.kind == "trained" and r.behavior is not None]
    rows = [r for r in rows if not math.isnan(r.self_report.estimate)]
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    xs = np.array([r.behavior.estimate for r in rows])  # type: ignore[union-attr]
    ys = np.array([r.self_report.estimate for r in rows])
    xerr = np.array(
        [[r.behavior.estimate - r.behavior.low, r.behavior.high - r.behavior.estimate]  # type: ignore[union-attr]
         for r in rows]
    ).T.clip(min=0)  # fmt: skip
    yerr = np.array(
        [[r.self_report.estimate - r.self_report.low, r.self_report.high - r.self_report.estimate]
         for r in rows]
    ).T.clip(min=0)  # fmt: skip
    if rows:
        ax.errorbar(xs, ys, xerr=np.nan_to_num(xerr), yerr=np.nan_to_num(yerr), fmt="o",
                    capsize=3, color="tab:blue", ecolor="tab:gray")  # fmt: skip
        for r, x, y in zip(rows, xs, ys):
            ax.annotate(r.label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
    if len(rows) >= 2 and np.ptp(xs) > 0:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(0, 1, 50)
        ax.plot(grid, slope * grid + intercept, "--", color="tab:red",
                label=f"least squares: y = {slope:.2f}x + {intercept:.2f}")  # fmt: skip
        ax.legend(loc="best", fontsize=8)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("behaviour: P(uncertain option) on held-out lotteries")
    ax.set_ylabel("self-report: risk score, first person")
    title = "self-report vs behaviour"
    if report.main is not None:
        title += (
            f"\nPearson r = {report.main.pearson.text(2)}, "
            f"Spearman rho = {report.main.spearman.text(2)}"
        )
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def write_report(report: FaithfulnessReport, out_dir: str | Path) -> dict[str, Path]:
    """faithfulness.md, .csv, .json and .png in `out_dir` (each written atomically)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {out} is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{REPORT_NAME}.{ext}" for ext in ("md", "csv", "json", "png")}
    write_bytes_atomic(paths["png"], render_plot(report))
    write_text_atomic(paths["md"], render_markdown(report, plot_name=paths["png"].name))
    write_text_atomic(paths["csv"], render_csv(report))
    write_text_atomic(paths["json"], json.dumps(report.to_json(), indent=2, default=str) + "\n")
    return paths
