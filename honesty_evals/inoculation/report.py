"""The inoculation experiment's report files: the results as CSV, the table and answer as
markdown and JSON, and a plot (bars per arm, without and with the arm's prompt, 95%
intervals), all written atomically into DIR/report/."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from honesty_evals.common.atomic import write_bytes_atomic, write_text_atomic
from honesty_evals.inoculation.summary import ARM_ORDER, MEASURE_NAMES, Cell, Summary

RESULT_COLUMNS = (
    "data", "arm", "seed", "prompt", "measure", "value", "ci_low", "ci_high", "n",
    "system_prompt", "model", "log", "note",
)  # fmt: skip


CONTRAST_NAMES = {
    "suppression": "trait without its prompt, arm - none",
    "gating": "capability, with - without its prompt",
    "misalignment": "misaligned rate with its prompt - none arm without",
}


def _interval(cell: Cell) -> str:
    if cell.value is None:
        return "n/a"
    if math.isnan(cell.value):  # e.g. a misaligned rate whose judge scored no answer
        return "not measured (no answer scored)"
    if cell.ci_low is None or cell.ci_high is None:
        return f"{cell.value:.3f}"
    return f"{cell.value:.3f} [{cell.ci_low:.3f}, {cell.ci_high:.3f}]"


def results_csv(rows: Sequence[Mapping[str, Any]]) -> str:
    """One line per measurement (the per-question values stay in results.jsonl)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=RESULT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: row.get(k) for k in RESULT_COLUMNS})
    return buffer.getvalue()


def render_markdown(summary: Summary, prompts: Mapping[str, Mapping[str, str | None]]) -> str:
    level = f"{summary.level:.0%}"
    lines = ["# Inoculation experiment", ""]
    for data, answer in summary.answers.items():
        lines += [f"**{data}.** {answer}", ""]
    lines += [
        f"| data | arm | prompt at test | measure | value [{level} CI] | n | seeds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cell in summary.cells:
        name = MEASURE_NAMES.get(cell.measure, {}).get(cell.data, cell.measure)
        seeds = ", ".join(str(s) for s in cell.seeds) or "-"
        lines.append(
            f"| {cell.data} | {cell.arm} | {cell.prompt} | {name} | {_interval(cell)} | "
            f"{cell.n} {cell.n_unit} | {seeds} |"
        )
    lines += ["", "Contrasts (a contrast counts when its interval excludes 0):", ""]
    lines += ["| data | arm | contrast | estimate [CI] | questions | seeds |", "| --- " * 6 + "|"]
    for c in summary.contrasts:
        what = CONTRAST_NAMES[c.kind]
        lines.append(
            f"| {c.data} | {c.arm} | {what} | {c.text()} | {c.n_questions} | "
            f"{c.n_seeds[0]} vs {c.n_seeds[1]} |"
        )
    lines += ["", "Training prompts (the arm's system message):", ""]
    for data, by_arm in prompts.items():
        for arm, prompt in by_arm.items():
            lines.append(f"- {data} / {arm}: {'(none)' if prompt is None else repr(prompt)}")
    methods = sorted({c.method for c in summary.cells if c.method})
    lines += ["", "Intervals: " + "; ".join(methods) + "."]
    return "\n".join(lines) + "\n"


def plot(summary: Summary, path: Path) -> Path | None:
    """Bars per arm (without / with its prompt) for every measure of every dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = sorted({(c.data, c.measure) for c in summary.cells if c.value is not None})
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), dpi=110)
    axes = [axes] if len(panels) == 1 else list(axes)
    for ax, (data, measure) in zip(axes, panels):
        cells = [c for c in summary.cells if (c.data, c.measure) == (data, measure)]
        arms = [a for a in ARM_ORDER if any(c.arm == a for c in cells)]
        for offset, prompt in ((-0.2, "without"), (0.2, "with")):
            xs, ys, errs = [], [], []
            for i, arm in enumerate(arms):
                cell = next((c for c in cells if (c.arm, c.prompt) == (arm, prompt)), None)
                if cell is None or cell.value is None:
                    continue
                low = cell.ci_low if cell.ci_low is not None else cell.value
                high = cell.ci_high if cell.ci_high is not None else cell.value
                xs.append(i + offset)
                ys.append(cell.value)
                errs.append((cell.value - low, high - cell.value))
            if xs:
                ax.bar(xs, ys, width=0.4, label=f"{prompt} its prompt",
                       yerr=list(zip(*errs)), capsize=3)  # fmt: skip
        ax.set_xticks(range(len(arms)), arms, rotation=30)
        ax.set_ylim(0, 1.05)
        ax.set_title(f"{data}: {MEASURE_NAMES.get(measure, {}).get(data, measure)}")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def write_report(
    summary: Summary,
    rows: Sequence[Mapping[str, Any]],
    prompts: Mapping[str, Mapping[str, str | None]],
    folder: Path,
) -> dict[str, Path]:
    """results.csv, summary.md, summary.json and plot.png in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "csv": folder / "results.csv",
        "md": folder / "summary.md",
        "json": folder / "summary.json",
    }
    write_text_atomic(paths["csv"], results_csv(rows))
    write_text_atomic(paths["md"], render_markdown(summary, prompts))
    data = {
        "answers": summary.answers,
        "level": summary.level,
        "table": [c.as_dict() for c in summary.cells],
        "contrasts": [c.__dict__ for c in summary.contrasts],
        "prompts": prompts,
    }
    write_text_atomic(paths["json"], json.dumps(data, indent=2, default=list) + "\n")
    png = plot(summary, folder / "plot.png")
    if png is not None:
        paths["png"] = png
    return paths
