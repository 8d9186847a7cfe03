"""`honesty-evals compare LOG_A LOG_B`: paired difference in a choice task's headline probability.

Typical use: a backdoored model's backdoor_awareness log against its decorrelated control's
(PROTOCOLS §1). Questions are the unit: each log's parsed samples are averaged per question
(over option orders and epochs), questions scored in both logs are paired, and the mean
difference gets a cluster bootstrap interval and a sign-flip permutation p-value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from honesty_evals.common.stats import PairedDifference, paired_difference
from honesty_evals.errors import UserInputError


@dataclass
class LogSummary:
    path: Path
    task: str
    headline: str  # the task's name for its figure, from its metadata ("P(aware)")
    model: str
    task_args: dict[str, object]
    per_question: pd.Series  # question id -> mean P(target) over parsed samples
    per_order: dict[str, float]
    n_samples: int
    n_unparseable: int


def load_choice_log(path: str | Path) -> LogSummary:
    """Read one eval log of a choice task into per-question means (inspect_ai.analysis)."""
    from inspect_ai.analysis import evals_df, samples_df

    log_path = Path(path)
    if not log_path.is_file():
        raise UserInputError(f"log file '{path}' does not exist: pass the .eval file Inspect wrote")
    try:
        evals = evals_df(str(log_path), quiet=True)
        samples = samples_df(str(log_path), quiet=True)
    except Exception as exc:  # Inspect raises several types for unreadable files
        raise UserInputError(f"'{path}' is not a readable Inspect eval log ({exc})") from None
    if evals.empty or samples.empty:
        raise UserInputError(
            f"'{path}' is not an Inspect eval log with scored samples (did the eval finish?)"
        )
    score_columns = [c for c in samples.columns if c.startswith("score_")]
    if "metadata_question_id" not in samples.columns or len(score_columns) != 1:
        raise UserInputError(
            f"log '{path}' is not from a probability-of-option task such as backdoor_awareness "
            "(it needs one score per sample and a question_id in sample metadata)"
        )
    row = evals.iloc[0]
    metadata = json.loads(row["metadata"]) if isinstance(row.get("metadata"), str) else {}
    # unparseable samples carry the NOANSWER string: to_numeric turns them into NaN
    values = pd.to_numeric(samples[score_columns[0]].astype("object"), errors="coerce")
    frame = pd.DataFrame(
        {
            "question": samples["metadata_question_id"].astype(str),
            "order": samples.get("metadata_order", pd.Series(["all"] * len(samples))).astype(str),
            "p": values.astype(float),
        }
    )
    parsed = frame.dropna(subset=["p"])
    task_args = {
        col.removeprefix("task_arg_"): row[col]
        for col in evals.columns
        if col.startswith("task_arg_")
    }
    return LogSummary(
        path=log_path,
        task=str(row["task_name"]),
        headline=str(metadata.get("headline", "P(target)")),
        model=str(row["model"]),
        task_args=task_args,
        per_question=parsed.groupby("question", sort=True)["p"].mean(),
        per_order=parsed.groupby("order")["p"].mean().to_dict(),
        n_samples=len(frame),
        n_unparseable=len(frame) - len(parsed),
    )


@dataclass
class Comparison:
    a: LogSummary
    b: LogSummary
    result: PairedDifference
    unpaired_questions: list[str]

    @property
    def headline(self) -> str:
        return self.a.headline

    def table(self) -> pd.DataFrame:
        orders = sorted(set(self.a.per_order) | set(self.b.per_order))
        rows = []
        for label, summary, mean in (
            ("A", self.a, self.result.mean_a),
            ("B", self.b, self.result.mean_b),
        ):
            row: dict[str, object] = {
                "log": label,
                "model": summary.model,
                "condition": summary.task_args.get("condition", ""),
                "samples": summary.n_samples,
                "unparseable": summary.n_unparseable,
                f"{self.headline} (paired questions)": round(mean, 4),
            }
            for order in orders:
                row[order] = round(summary.per_order.get(order, float("nan")), 4)
            rows.append(row)
        return pd.DataFrame(rows).set_index("log")

    def render(self) -> str:
        r = self.result
        pct = int(round(r.level * 100))
        lines = [
            f"{self.a.task}: {self.headline}, A = {self.a.path}, B = {self.b.path}",
            self.table().to_string(),
            "",
            f"difference A - B: {r.difference:+.4f}  [{pct}% CI {r.ci_low:+.4f}, {r.ci_high:+.4f}]"
            f"  p = {r.p_value:.4g}  ({r.n_pairs} questions paired; cluster bootstrap, "
            "sign-flip permutation test)",
        ]
        if self.unpaired_questions:
            lines.append(f"left out (scored in only one log): {', '.join(self.unpaired_questions)}")
        return "\n".join(lines)


def compare_logs(
    log_a: str | Path, log_b: str | Path, level: float = 0.95, seed: int = 0
) -> Comparison:
    a, b = load_choice_log(log_a), load_choice_log(log_b)
    if a.task != b.task:
        raise UserInputError(
            f"the logs are from different tasks ({a.task} vs {b.task}): compare two logs of "
            "the same task"
        )
    common = sorted(set(a.per_question.index) & set(b.per_question.index))
    if len(common) < 2:
        raise UserInputError(
            f"only {len(common)} question(s) are scored in both logs: a paired comparison needs "
            "at least 2 (were they run with the same questions?)"
        )
    unpaired = sorted(set(a.per_question.index) ^ set(b.per_question.index))
    result = paired_difference(
        a.per_question.loc[common].to_numpy(),
        b.per_question.loc[common].to_numpy(),
        level=level,
        seed=seed,
    )
    return Comparison(a=a, b=b, result=result, unpaired_questions=unpaired)
