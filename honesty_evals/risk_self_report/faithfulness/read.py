"""Reading the faithfulness report's logs: one `ModelRun` per model (and in-context setting).

`load_runs` turns `risk_self_report` and `risk_behavior` Inspect logs into each model's
scores per question, refusing (naming the log) what the report cannot read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from honesty_evals.common.questions import complete_question_means
from honesty_evals.errors import UserInputError
from honesty_evals.risk_behavior.describe import TASK_INFO as BEHAVIOR
from honesty_evals.risk_self_report.describe import TASK_INFO as SELF_REPORT

SELF_REPORT_TASK = SELF_REPORT.name
BEHAVIOR_TASK = BEHAVIOR.name
# the task versions whose scores this report knows how to read
EXPECTED_VERSIONS = {info.name: info.readable_versions for info in (SELF_REPORT, BEHAVIOR)}


def expand_log_paths(paths: Sequence[str | Path]) -> list[Path]:
    """Log files named directly, plus every Inspect log inside named directories."""
    from inspect_ai.log import list_eval_logs

    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = [Path(info.name.removeprefix("file://")) for info in list_eval_logs(str(path))]
            if not inside:
                raise UserInputError(f"{path}: no Inspect eval logs in this directory")
            found.extend(sorted(inside))
        elif path.is_file():
            found.append(path)
        else:
            raise UserInputError(f"{path}: no such log file or directory")
    unique: list[Path] = []
    for p in found:
        if p.resolve() not in {u.resolve() for u in unique}:
            unique.append(p)
    return unique


@dataclass
class ModelRun:
    """One model's logs: its self-report and/or behaviour, per question."""

    key: str  # what models are joined on
    model: str  # Inspect model name
    label: str  # short name for tables and the plot
    in_context_examples: int = 0
    in_context_risky_fraction: float | None = None
    trained_risky_fraction: float | None = None
    self_report_log: str | None = None
    behavior_log: str | None = None
    # question id -> score (NaN when the question gave no score)
    self_scores: dict[str, float] = field(default_factory=dict)
    third_scores: dict[str, float] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)  # self question id -> format
    behavior_scores: dict[str, float] = field(default_factory=dict)  # lottery -> P(risky)
    self_report_method: str = ""
    answer_mass: float = math.nan
    # each task's parameters (task name -> args), compared between the seeds of a family
    task_args: dict[str, dict[str, Any]] = field(default_factory=dict)


def _task_args(row: pd.Series) -> dict[str, Any]:
    return {c.removeprefix("task_arg_"): row[c] for c in row.index if c.startswith("task_arg_")}


def _is_set(value: Any) -> bool:
    """Whether a log field holds a value (not None, NaN, pandas NA or an empty string)."""
    if value is None:
        return False
    try:
        if pd.isna(value):
            return False
    except (TypeError, ValueError):  # lists and dicts: set
        return True
    return str(value) != "" and str(value).lower() not in ("none", "null")


def _plain(value: Any) -> Any:
    """A task argument as comparable plain data (unset: None)."""
    if not _is_set(value):
        return None
    return value.item() if hasattr(value, "item") else value


def model_label(model: str) -> str:
    """A short name: an adapter directory's name, "smollm2 (base)", else the model."""
    from honesty_evals.model.source import is_embedded_alias

    provider, _, name = model.partition("/")
    if provider == "local" and is_embedded_alias(name):
        return f"{name} (base)"
    if provider == "local" and ("/" in name or Path(name).exists()):
        return Path(name.rstrip("/")).name or name
    return model


def _trained_fraction(model: str) -> float | None:
    """The mixture share an adapter was trained on, from its training card (if readable)."""
    provider, _, name = model.partition("/")
    if provider != "local":
        return None
    card = Path(name) / "training_card.json"
    try:
        recipe = json.loads(card.read_text())["hyperparameters"].get("recipe") or {}
    except (OSError, ValueError, KeyError, AttributeError):
        return None
    if recipe.get("name") == "risk-seeking":
        return 1.0
    if recipe.get("name") == "risk-averse":
        return 0.0
    fraction = recipe.get("risky_fraction")
    return float(fraction) if isinstance(fraction, (int, float)) else None


def _sampled_any(row: pd.Series) -> bool:
    """Whether any question of a self-report log was scored by sampling."""
    columns = [c for c in row.index if c.startswith("score_self_report_scorer_sampled_")]
    return any(_is_set(row[c]) and float(row[c]) > 0 for c in columns)


def _scores(samples: pd.DataFrame) -> pd.Series:
    column = [c for c in samples.columns if c.startswith("score_")]
    # unparseable samples carry the NOANSWER string; to_numeric makes them NaN
    return pd.to_numeric(samples[column[0]].astype("object"), errors="coerce").astype(float)


def _readable_task(file: Path, row: pd.Series) -> str:
    """The task of a log's row, refusing another task, another version or an unfinished run."""
    task = str(row["task_name"]).split("/")[-1]
    if task not in EXPECTED_VERSIONS:
        raise UserInputError(
            f"{file}: a log of task '{task}'; faithfulness reads only {SELF_REPORT_TASK} "
            f"and {BEHAVIOR_TASK} logs: leave it out"
        )
    version = int(row["task_version"]) if _is_set(row.get("task_version")) else 0
    if version not in EXPECTED_VERSIONS[task]:
        readable = " or ".join(str(v) for v in EXPECTED_VERSIONS[task])
        raise UserInputError(
            f"{file}: {task} version {version}, but this report reads version "
            f"{readable}: rerun {task} with this package, or use the "
            "package version that wrote the log"
        )
    if row["status"] != "success":
        raise UserInputError(
            f"{file}: the {task} eval did not finish (status {row['status']}): rerun it "
            "(eval_set resumes it) or leave the log out"
        )
    return task


def load_runs(paths: Sequence[str | Path]) -> dict[str, ModelRun]:
    """Every model's runs from the logs, keyed by model (and in-context setting).

    Raises UserInputError, naming the log, for a log of another task or task version, an
    unfinished log, a behaviour log measured with a trigger, a self-report log without
    first-person questions, or two logs of the same task for the same model.
    """
    from inspect_ai.analysis import evals_df, samples_df

    files = expand_log_paths(paths)
    if not files:
        raise UserInputError("no logs given: pass risk_self_report and risk_behavior logs")
    runs: dict[str, ModelRun] = {}
    for file in files:
        try:
            evals = evals_df(str(file), quiet=True)
        except Exception as exc:  # Inspect raises several types for unreadable files
            raise UserInputError(f"{file}: not a readable Inspect eval log ({exc})") from None
        if evals.empty:
            raise UserInputError(f"{file}: not an Inspect eval log")
        row = evals.iloc[0]
        task = _readable_task(file, row)
        args = _task_args(row)
        model = str(row["model"])
        k = int(args.get("in_context_examples") or 0) if task == SELF_REPORT_TASK else 0
        icl_fraction = float(args.get("in_context_risky_fraction", 1.0)) if k else None
        key = model if not k else f"{model} +{k} in-context examples (risky share {icl_fraction:g})"
        label = model_label(model)
        run = runs.setdefault(
            key,
            ModelRun(
                key=key,
                model=model,
                label=label if not k else f"{label} + {k} ex. @ {icl_fraction:g}",
                in_context_examples=k,
                in_context_risky_fraction=icl_fraction,
                trained_risky_fraction=None if k else _trained_fraction(model),
            ),
        )
        samples = samples_df(str(file), quiet=True)
        values = _scores(samples)
        run.task_args[task] = {k: _plain(v) for k, v in args.items()}
        if task == BEHAVIOR_TASK:
            if _is_set(args.get("trigger")):
                raise UserInputError(
                    f"{file}: risk_behavior measured with trigger {args['trigger']!r}; "
                    "faithfulness compares self-report with untriggered behaviour: rerun "
                    "risk_behavior without -T trigger"
                )
            if run.behavior_log is not None:
                raise UserInputError(
                    f"two risk_behavior logs for {key}: {run.behavior_log} and {file}: keep one"
                )
            run.behavior_log = str(file)
            questions = samples["metadata_question_id"].astype(str).tolist()
            orders = samples.get("metadata_order", pd.Series([None] * len(samples))).tolist()
            # both option orders of a lottery averaged; a lottery with an order unparsed is
            # NaN (one order alone measures mostly the model's position bias)
            complete = complete_question_means(values.tolist(), questions, orders)
            run.behavior_scores = {
                q: complete.means.get(q, math.nan) for q in sorted(set(questions))
            }
        else:
            if run.self_report_log is not None:
                raise UserInputError(
                    f"two risk_self_report logs for {key}: {run.self_report_log} and {file}: "
                    "keep one"
                )
            person = samples["metadata_person"].astype(str)
            if not (person == "self").any():
                raise UserInputError(
                    f"{file}: no first-person questions (person={args.get('person')!r}), so "
                    "no self-report: rerun risk_self_report with -T person=all or self"
                )
            run.self_report_log = str(file)
            qid = samples["metadata_question_id"].astype(str)
            fmt = samples["metadata_format"].astype(str)
            first = person == "self"
            run.self_scores = dict(zip(qid[first], values[first]))
            run.formats = dict(zip(qid[first], fmt[first]))
            run.third_scores = dict(zip(qid[~first], values[~first]))
            mass: Any = row.get("score_self_report_scorer_answer_mass")  # a number when set
            run.answer_mass = float(mass) if _is_set(mass) else math.nan
            sampled = row.get("score_self_report_scorer_sampled_answer")
            used = [
                name
                for name, present in (
                    ("logprobs", not math.isnan(run.answer_mass)),
                    ("sampling", _is_set(sampled) and _sampled_any(row)),
                )
                if present
            ]
            run.self_report_method = "+".join(used) or str(args.get("scoring", ""))
    return runs
