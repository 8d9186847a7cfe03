"""Reading one eval log of a choice task into per-question means.

Shared by `compare` (paired differences between models) and the tasks' audit metric
readers (`common.measurement.read_choice_metric`), which sit below `compare` in the layers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from honesty_evals.common.methods import METHOD_KEY
from honesty_evals.common.questions import complete_question_means
from honesty_evals.common.textfile import check_input_file
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
    task_version: int = 0
    eval_id: str = ""
    incomplete_questions: list[str] = field(default_factory=list)  # an order unparsed
    n_low_mass: int | None = None  # unparseable for low label mass (None: not recorded)
    # method class -> samples it scored, among the counted ones (common/methods.py; empty:
    # the task records none)
    methods: dict[str, int] = field(default_factory=dict)

    @property
    def n_incomplete_questions(self) -> int:
        return len(self.incomplete_questions)

    @property
    def min_label_mass(self) -> float | None:
        """The task's min_label_mass (None: a task or log without one)."""
        value = self.task_args.get("min_label_mass")
        try:
            # any task argument goes in (a bad one raises, caught below); the stubs of pd.isna
            # and float accept only the types they name
            return None if value is None or pd.isna(value) else float(value)  # type: ignore[call-overload,arg-type]
        except (TypeError, ValueError):
            return None


def load_choice_log(path: str | Path) -> LogSummary:
    """Read one eval log of a choice task into per-question means (inspect_ai.analysis)."""
    from inspect_ai.analysis import evals_df, samples_df

    log_path = Path(path)
    if not log_path.exists():
        raise UserInputError(f"log file '{path}' does not exist: pass the .eval file Inspect wrote")
    check_input_file(log_path, "log file")  # a folder is named as one, not as missing
    try:
        evals = evals_df(str(log_path), quiet=True)
        samples = samples_df(str(log_path), quiet=True)
    except Exception as exc:  # Inspect raises several types for unreadable files
        raise UserInputError(f"'{path}' is not a readable Inspect eval log ({exc})") from None
    status = str(evals["status"].iloc[0]) if not evals.empty and "status" in evals else ""
    if status and status != "success":
        # an errored or cancelled eval is not "a different task": say what happened to it
        error = evals["error_message"].iloc[0] if "error_message" in evals else None
        why = f": {str(error).splitlines()[0][:200]}" if isinstance(error, str) and error else ""
        raise UserInputError(
            f"log '{path}' is of an eval that did not finish (status {status}{why}): rerun "
            "the eval and compare the finished log"
        )
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
        task_version=_int_or_zero(row.get("task_version")),
        eval_id=str(row.get("eval_id", "")),
        incomplete_questions=sorted(str(q) for q in complete.incomplete),
        n_low_mass=_low_mass_count(evals),
        methods=_method_counts(samples, counted.index),
    )


def _method_counts(samples: pd.DataFrame, counted: pd.Index) -> dict[str, int]:
    """How many of the counted samples each method class scored (common/methods.py)."""
    column = f"metadata_{METHOD_KEY}"
    if column not in samples.columns:
        return {}
    counts = samples.loc[counted, column].dropna().astype(str).value_counts()
    return {str(k): int(v) for k, v in counts.items()}


def _int_or_zero(value: object) -> int:
    try:
        # any value goes in (a bad one raises, caught below); the stubs of pd.isna and int
        # accept only the types they name
        return 0 if value is None or pd.isna(value) else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _low_mass_count(evals: pd.DataFrame) -> int | None:
    """The n_low_mass metric of the log, where its scorer recorded one."""
    columns = [c for c in evals.columns if c.startswith("score_") and c.endswith("_n_low_mass")]
    if not columns or pd.isna(evals.iloc[0][columns[0]]):
        return None
    return int(evals.iloc[0][columns[0]])
