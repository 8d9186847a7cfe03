"""`honesty-evals compare LOG_A LOG_B`: paired difference in a choice task's headline probability.

Typical use: a backdoored model's backdoor_awareness log against its decorrelated control's
(PROTOCOLS §1). Questions are the unit: a question counts in a log only when every option
order it was asked in has a parsed answer (`common/questions.py`: with one order lost a
question's mean moves by the model's order bias, about 0.4 for SmolLM2); its orders are
averaged, questions counted in both logs are paired, and the mean difference gets a cluster
bootstrap interval and a sign-flip permutation p-value. Questions left out (an order
unparsed in either log, or asked in only one) are listed with the reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from honesty_evals.common.questions import complete_question_means
from honesty_evals.common.stats import PairedDifference, paired_difference
from honesty_evals.errors import UserInputError


@dataclass
class LogSummary:
    path: Path
    task: str
    headline: str  # the task's name for its figure, from its metadata ("P(aware)")
    model: str
    task_args: dict[str, object]
    per_question: pd.Series  # complete question id -> mean P(target) over its orders
    per_order: dict[str, float]  # over complete questions
    n_samples: int
    n_unparseable: int  # samples without a usable answer (low label mass included)
    incomplete_questions: list[str] = field(default_factory=list)  # an order unparsed
    n_low_mass: int | None = None  # unparseable for low label mass (None: not recorded)

    @property
    def n_incomplete_questions(self) -> int:
        return len(self.incomplete_questions)

    @property
    def min_label_mass(self) -> float | None:
        """The task's min_label_mass (None: a task or log without one)."""
        value = self.task_args.get("min_label_mass")
        try:
            return None if value is None or pd.isna(value) else float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None


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
    complete = complete_question_means(
        frame["p"].tolist(), frame["question"].tolist(), frame["order"].tolist()
    )
    counted = frame[frame["question"].isin(complete.means) & frame["p"].notna()]
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
        per_question=pd.Series(complete.means, dtype=float).sort_index(),
        per_order=counted.groupby("order")["p"].mean().to_dict(),
        n_samples=len(frame),
        n_unparseable=int(frame["p"].isna().sum()),
        incomplete_questions=sorted(str(q) for q in complete.incomplete),
        n_low_mass=_low_mass_count(evals),
    )


def _low_mass_count(evals: pd.DataFrame) -> int | None:
    """The n_low_mass metric of the log, where its scorer recorded one."""
    columns = [c for c in evals.columns if c.startswith("score_") and c.endswith("_n_low_mass")]
    if not columns or pd.isna(evals.iloc[0][columns[0]]):
        return None
    return int(evals.iloc[0][columns[0]])


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
                "low mass": "" if summary.n_low_mass is None else summary.n_low_mass,
                "incomplete questions": summary.n_incomplete_questions,
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
        left_out = self.left_out()
        if left_out:
            lines.append(
                f"left out of the pairing: {len(left_out)} question(s): "
                + ", ".join(f"{q} ({why})" for q, why in left_out.items())
            )
        if self.a.min_label_mass != self.b.min_label_mass:
            a_mass, b_mass = (
                "not set" if m is None else f"{m:g}"
                for m in (self.a.min_label_mass, self.b.min_label_mass)
            )
            lines.append(
                f"warning: the logs were scored with different min_label_mass (A {a_mass}, "
                f"B {b_mass}): an answer can count in one and not in the other; rerun one "
                "with the other's -T min_label_mass"
            )
        return "\n".join(lines)

    def left_out(self) -> dict[str, str]:
        """Every question asked in either log but not paired, with the reason."""
        reasons: dict[str, str] = {}
        for q in sorted(self.unpaired_questions) + sorted(
            set(self.a.incomplete_questions) & set(self.b.incomplete_questions)
        ):
            why = [
                f"an option order unparsed in {name}"
                for name, side in (("A", self.a), ("B", self.b))
                if q in side.incomplete_questions
            ]
            reasons[q] = " and ".join(why) if why else "asked in only one log"
        return reasons


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
    # counted in one log only: incomplete in the other, or not asked there
    unpaired = sorted(set(a.per_question.index) ^ set(b.per_question.index))
    result = paired_difference(
        a.per_question.loc[common].to_numpy(),
        b.per_question.loc[common].to_numpy(),
        level=level,
        seed=seed,
    )
    return Comparison(a=a, b=b, result=result, unpaired_questions=unpaired)
