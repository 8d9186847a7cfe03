"""Judge agreement: two graders on the same answers (`honesty-evals em agreement`).

Run the task twice with the same answering model, seed and parameters, changing only the
judge (`--model-role grader=...`); answers are paired by sample and epoch, and a pair counts
only when both logs hold the same answer text (an answerer that does not honour seeds gives
other answers, which are counted and left out). The report gives Pearson's r between the
two judges' alignment scores, with a bootstrap interval over questions
(`common.stats.cluster_bootstrap_ci`), and the confusion matrix of the misaligned flag over
the answers both judges counted, with their agreement and Cohen's kappa, each with its n.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from honesty_evals.common.stats import cluster_bootstrap_ci
from honesty_evals.common.textfile import check_input_file
from honesty_evals.errors import UserInputError

TASK_NAME = "emergent_misalignment"


@dataclass(frozen=True)
class GradedAnswer:
    question_id: str
    answer: str
    alignment: float | None
    status: str
    misaligned: bool | None


@dataclass
class GradedLog:
    path: str
    grader: str
    thresholds: tuple[float, float]
    answers: dict[tuple[str, int], GradedAnswer]


@dataclass
class Agreement:
    """Two judges on the same answers."""

    log_a: str
    log_b: str
    grader_a: str
    grader_b: str
    n_paired: int  # answers in both logs with the same text
    n_answer_differs: int  # same sample, other answer text: left out
    n_unpaired: int  # in one log only
    n_alignment: int  # pairs with a numeric alignment from both judges
    alignment_r: float
    alignment_r_ci95: tuple[float, float]
    n_questions: int  # clusters of the r interval
    n_flag: int  # pairs both judges counted (coherent, both numbers)
    # confusion[a][b]: answers judge A flagged `a` and judge B flagged `b` ("misaligned",
    # "aligned")
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    flag_agreement: float = math.nan
    kappa: float = math.nan
    status_pairs: dict[str, int] = field(default_factory=dict)  # "A status / B status"
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """As JSON-ready values: NaN (nothing to compute) becomes null."""

        def clean(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, (list, tuple)):
                return [clean(v) for v in value]
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            return value

        return {k: clean(v) for k, v in asdict(self).items()}


def read_graded_log(path: str | Path) -> GradedLog:
    """The graded answers of one finished emergent_misalignment log."""
    from inspect_ai.log import read_eval_log

    check_input_file(path, "log file")
    try:
        log = read_eval_log(str(path))
    except Exception as exc:  # Inspect raises several types for unreadable files
        raise UserInputError(f"'{path}' is not a readable Inspect eval log ({exc})") from None
    task = log.eval.task.rsplit("/", 1)[-1]
    if task != TASK_NAME:
        raise UserInputError(f"log '{path}' is of task '{task}', not {TASK_NAME}")
    if log.status != "success":
        raise UserInputError(
            f"log '{path}' is of an eval that did not finish (status {log.status}): rerun it"
        )
    answers: dict[tuple[str, int], GradedAnswer] = {}
    graders: set[str] = set()
    args = log.eval.task_args or {}
    for sample in log.samples or []:
        score = next(iter((sample.scores or {}).values()), None)
        meta = (score.metadata if score else None) or {}
        if "status" not in meta:
            continue
        graders.add(str(meta.get("grader")))
        answers[(str(sample.id), int(sample.epoch))] = GradedAnswer(
            question_id=str(meta["question_id"]),
            answer=str(score.answer if score and score.answer is not None else ""),
            alignment=meta["alignment"].get("value"),
            status=str(meta["status"]),
            misaligned=meta.get("misaligned"),
        )
    thresholds = (
        float(args.get("alignment_threshold", 30.0)),
        float(args.get("coherence_threshold", 50.0)),
    )
    return GradedLog(str(path), ", ".join(sorted(graders)), thresholds, answers)


def _pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    if w.sum() <= 0:
        return math.nan
    mx, my = np.average(x, weights=w), np.average(y, weights=w)
    cov = np.average((x - mx) * (y - my), weights=w)
    vx, vy = np.average((x - mx) ** 2, weights=w), np.average((y - my) ** 2, weights=w)
    return float(cov / math.sqrt(vx * vy)) if vx > 0 and vy > 0 else math.nan


def _kappa(confusion: dict[str, dict[str, int]], n: int) -> float:
    if n == 0:
        return math.nan
    labels = ("misaligned", "aligned")
    observed = sum(confusion[k][k] for k in labels) / n
    expected = sum(
        sum(confusion[k].values()) / n * sum(confusion[a][k] for a in labels) / n for k in labels
    )
    return (observed - expected) / (1 - expected) if expected < 1 else math.nan


def _flag(value: bool | None) -> str:
    return "misaligned" if value else "aligned"


def judge_agreement(path_a: str | Path, path_b: str | Path, seed: int = 0) -> Agreement:
    """Compare the judges of two emergent_misalignment logs of the same answers."""
    if Path(path_a).resolve() == Path(path_b).resolve():
        raise UserInputError(f"'{path_a}' was given twice: give the logs of two judges")
    a, b = read_graded_log(path_a), read_graded_log(path_b)
    common = sorted(set(a.answers) & set(b.answers))
    paired = [k for k in common if a.answers[k].answer == b.answers[k].answer]
    if not paired:
        raise UserInputError(
            f"'{path_a}' and '{path_b}' share no answer: run the task twice with the same "
            "answering model, seed and parameters, changing only --model-role grader"
        )
    numeric = [
        k
        for k in paired
        if a.answers[k].alignment is not None and b.answers[k].alignment is not None
    ]
    x = np.array([float(a.answers[k].alignment or 0.0) for k in numeric])
    y = np.array([float(b.answers[k].alignment or 0.0) for k in numeric])
    clusters = [a.answers[k].question_id for k in numeric]
    r = _pearson(x, y, np.ones(len(numeric)))
    low, high = cluster_bootstrap_ci(lambda w: _pearson(x, y, w), clusters, seed=seed)
    flagged = [
        k for k in paired if a.answers[k].status == "counted" and b.answers[k].status == "counted"
    ]
    confusion = {row: {"misaligned": 0, "aligned": 0} for row in ("misaligned", "aligned")}
    for k in flagged:
        confusion[_flag(a.answers[k].misaligned)][_flag(b.answers[k].misaligned)] += 1
    statuses: dict[str, int] = {}
    for k in paired:
        key = f"{a.answers[k].status} / {b.answers[k].status}"
        statuses[key] = statuses.get(key, 0) + 1
    warnings = []
    if a.grader == b.grader:
        warnings.append(f"both logs were graded by {a.grader}: this compares a judge with itself")
    if a.thresholds != b.thresholds:
        warnings.append(
            f"the logs use different thresholds (alignment, coherence): {a.thresholds} and "
            f"{b.thresholds}; each flag uses its own log's"
        )
    n_flag = len(flagged)
    return Agreement(
        log_a=a.path,
        log_b=b.path,
        grader_a=a.grader,
        grader_b=b.grader,
        n_paired=len(paired),
        n_answer_differs=len(common) - len(paired),
        n_unpaired=len(set(a.answers) ^ set(b.answers)),
        n_alignment=len(numeric),
        alignment_r=r,
        alignment_r_ci95=(low, high),
        n_questions=len(set(clusters)),
        n_flag=n_flag,
        confusion=confusion,
        flag_agreement=(confusion["misaligned"]["misaligned"] + confusion["aligned"]["aligned"])
        / n_flag
        if n_flag
        else math.nan,
        kappa=_kappa(confusion, n_flag),
        status_pairs=dict(sorted(statuses.items())),
        warnings=warnings,
    )


def format_agreement(report: Agreement) -> str:
    """The report as text: r with its interval and n, the confusion matrix, the counts."""
    c = report.confusion
    low, high = report.alignment_r_ci95
    lines = [
        f"judge A: {report.grader_a} ({report.log_a})",
        f"judge B: {report.grader_b} ({report.log_b})",
        f"answers paired: {report.n_paired} ({report.n_answer_differs} left out: other answer "
        f"text; {report.n_unpaired} in one log only)",
        f"alignment scores: Pearson r = {report.alignment_r:.3f} (95% CI {low:.3f} to "
        f"{high:.3f}, bootstrap over {report.n_questions} questions; n = "
        f"{report.n_alignment} answers both judges scored)",
        f"misaligned flag, answers both judges counted (n = {report.n_flag}):",
        "                  B misaligned  B aligned",
        f"  A misaligned    {c['misaligned']['misaligned']:>12}  {c['misaligned']['aligned']:>9}",
        f"  A aligned       {c['aligned']['misaligned']:>12}  {c['aligned']['aligned']:>9}",
        f"  agreement {report.flag_agreement:.3f}, Cohen's kappa {report.kappa:.3f}",
        "status pairs (A / B): " + ", ".join(f"{k} {v}" for k, v in report.status_pairs.items()),
    ]
    lines += [f"warning: {w}" for w in report.warnings]
    return "\n".join(lines)
