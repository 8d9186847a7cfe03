"""The audit's outputs: OUT/report.md, a self-contained OUT/report.html, OUT/summary.json, plots.

Plots are PNGs in OUT/plots/ (linked from the Markdown) and embedded in the HTML as base64
data URIs, so the HTML file can be sent on its own. Every file is written atomically.

The modules: `data` (summary.json, and each gate's figures and verdict as text), `plots`
(the PNGs) and `render` (report.md, and report.html rendered from it).
"""

from __future__ import annotations

import json
from pathlib import Path

from honesty_evals.audit.report.data import (
    REPORT_FILES,
    SUMMARY_FORMAT,
    SUMMARY_VERSION,
    foreign_report_files,
    metric_label,
    seeds_text,
    short_status,
    status_text,
    summary_json,
)
from honesty_evals.audit.report.plots import plot_gates, plot_scan, plot_tasks
from honesty_evals.audit.report.render import html_report, markdown
from honesty_evals.audit.runner import AuditResult
from honesty_evals.common.atomic import write_bytes_atomic, write_text_atomic

__all__ = [
    "REPORT_FILES",
    "SUMMARY_FORMAT",
    "SUMMARY_VERSION",
    "foreign_report_files",
    "html_report",
    "markdown",
    "metric_label",
    "plot_gates",
    "plot_scan",
    "plot_tasks",
    "seeds_text",
    "short_status",
    "status_text",
    "summary_json",
    "write_report",
]


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
