"""`honesty-evals faithfulness LOG...`: does a model's self-report track its behaviour?

PROTOCOLS §2: across organisms of different strength, the published correlation between
self-reported risk-seeking and measured behaviour was r = 0.45 and 0.67. This joins
`risk_self_report` logs (first-person questions: the self-report) with `risk_behavior` logs
(P(uncertain option) on held-out lotteries: the behaviour) by model, and reports Pearson's r
and Spearman's rho across models with bootstrap intervals over questions: each bootstrap
draw resamples the self-report questions and the lotteries (the same draw for every model),
recomputes every model's two means and the correlation. Every model is measured on the same
questions: those every model with that log (every seed of a seed family) scored (a lottery
counts only with both option orders parsed); the others are dropped for all models and
counted in the report.

**Seed families** (PROTOCOLS §0: fine-tuning results vary a lot between seeds). Models
whose names differ only in a trailing seed suffix of their last path component (`-sK`,
`_sK`, `-seedK`, `-seed-K`, `_seed_K`; or a last component that is only the seed, `sK`,
`seed-K`) are the seeds of one organism, and count as one point of the correlation:
`local/organisms/mix-0.25-s0` and `local/organisms/mix-0.25-s1` are the family
`local/organisms/mix-0.25`. Its value on each question is the mean over its seeds, and each
bootstrap draw first resamples every family's seeds (the same seeds for its self-report and
its behaviour, which come from the same models), then the questions, so the intervals
cover both the seed-to-seed and the question sampling variation; the table gives each
family's seed spread (on the same questions). A family's seeds must have logs of the same
tasks, run with the same task parameters (the sampling `seed` may differ), and the same
trained risky share. Without suffixed names every model is its own family of one seed, and
the intervals cover question sampling only, not fine-tuning-seed variation. The seeds of a
family directory (`organism train --seeds 0-4 --out DIR`, evaluated as `local/DIR/seed-K`)
are one family this way; its `family.json` and every seed's training card must agree on
the base model, the data and the recipe, or the report refuses them.

Logs of the in-context control (`risk_self_report -T in_context_examples=K`) are reported
beside the organisms: the base model reading K examples instead of being trained on them.
Their self-report is compared with the share of risk-seeking answers they were shown, as the
organisms' self-report is with the share they were trained on (read from the adapter's
training card where available).

The modules: `read` (logs -> runs), `families` (seed families), `statistics` (correlations
and intervals), `report` (what the report shows), `render` (Markdown, CSV, JSON, PNG).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from honesty_evals.common.stats import DEFAULT_BOOTSTRAPS
from honesty_evals.errors import UserInputError
from honesty_evals.risk_self_report.faithfulness.families import (
    FAMILY_VARYING_PARAMS,
    Family,
    family_name,
    group_families,
)
from honesty_evals.risk_self_report.faithfulness.read import (
    BEHAVIOR_TASK,
    EXPECTED_VERSIONS,
    SELF_REPORT_TASK,
    ModelRun,
    expand_log_paths,
    load_runs,
)
from honesty_evals.risk_self_report.faithfulness.render import (
    REPORT_NAME,
    render_csv,
    render_markdown,
    render_plot,
    write_report,
)
from honesty_evals.risk_self_report.faithfulness.report import (
    MIN_MODELS,
    FaithfulnessReport,
    ModelRow,
    QuestionSet,
    build_report,
)
from honesty_evals.risk_self_report.faithfulness.statistics import (
    Correlation,
    Interval,
    correlate,
    family_bootstrap_means,
    permutation_p,
)

__all__ = [
    "BEHAVIOR_TASK",
    "EXPECTED_VERSIONS",
    "FAMILY_VARYING_PARAMS",
    "MIN_MODELS",
    "REPORT_NAME",
    "SELF_REPORT_TASK",
    "Correlation",
    "FaithfulnessReport",
    "Family",
    "Interval",
    "ModelRow",
    "ModelRun",
    "QuestionSet",
    "build_report",
    "correlate",
    "expand_log_paths",
    "faithfulness_report",
    "family_bootstrap_means",
    "family_name",
    "group_families",
    "load_runs",
    "permutation_p",
    "render_csv",
    "render_markdown",
    "render_plot",
    "write_report",
]


def faithfulness_report(
    logs: Sequence[str | Path],
    out_dir: str | Path,
    level: float = 0.95,
    n_boot: int = DEFAULT_BOOTSTRAPS,
    seed: int = 0,
) -> tuple[FaithfulnessReport, dict[str, Path]]:
    """Read the logs, build the report, write it; missing models are named on stderr."""
    if not 0.5 <= level < 1.0:
        raise UserInputError(f"--level {level} is out of range: give e.g. 0.95")
    if n_boot < 100:
        raise UserInputError(f"--n-boot {n_boot} is too small: use at least 100 (default 2000)")
    runs = load_runs(logs)
    report = build_report(runs, level=level, n_boot=n_boot, seed=seed)
    for key in report.missing_behavior:
        print(f"faithfulness: {key} has no risk_behavior log; left out", file=sys.stderr)
    for key in report.missing_self_report:
        print(f"faithfulness: {key} has no risk_self_report log; left out", file=sys.stderr)
    for q in report.question_sets:
        if q.dropped:
            print(
                f"faithfulness: {len(q.dropped)} of {q.asked} {q.what} dropped for every model "
                f"(not scored by all of them): {', '.join(q.dropped)}",
                file=sys.stderr,
            )
    return report, write_report(report, out_dir)
