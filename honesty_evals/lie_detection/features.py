"""Reading the follow-up features and labels that the lie_detection task wrote into its logs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from honesty_evals.errors import UserInputError
from honesty_evals.lie_detection.answers import INCLUDED_LABELS

TASK_NAME = "lie_detection"


@dataclass
class FeatureTable:
    """Rows of follow-up features: X (rows x questions), y (1 = lie), and row descriptors."""

    X: np.ndarray
    y: np.ndarray
    question_ids: list[str]  # QA item of each row: the grouping unit
    topics: list[str]
    feature_names: list[str]
    feature_kind: str
    models: list[str]
    label_counts: Counter = field(default_factory=Counter)  # every sample, excluded included
    rows: list[dict[str, Any]] = field(default_factory=list)  # per-row conversation data

    def subset(self, mask: np.ndarray) -> FeatureTable:
        idx = np.nonzero(mask)[0]
        return FeatureTable(
            X=self.X[idx],
            y=self.y[idx],
            question_ids=[self.question_ids[i] for i in idx],
            topics=[self.topics[i] for i in idx],
            feature_names=self.feature_names,
            feature_kind=self.feature_kind,
            models=self.models,
            label_counts=self.label_counts,
            rows=[self.rows[i] for i in idx] if self.rows else [],
        )

    def topic_mask(self, topics: Sequence[str]) -> np.ndarray:
        wanted = set(topics)
        return np.array([t in wanted for t in self.topics], dtype=bool)

    @property
    def feature_set(self) -> dict[str, Any]:
        return {"kind": "followups", "feature_kind": self.feature_kind}

    def counts_line(self) -> str:
        c = self.label_counts
        return (
            f"{int(self.y.sum())} lies and {int((1 - self.y).sum())} honest answers used; "
            f"excluded: {c.get('lie_failed', 0)} lie_failed (told to lie, answered correctly), "
            f"{c.get('truth_failed', 0)} truth_failed, {c.get('unknown', 0)} unknown (model "
            f"wrong without an instruction)"
        )


def _read(path: Path) -> Any:
    from inspect_ai.log import read_eval_log

    if not path.exists():
        raise UserInputError(
            f"log {path} does not exist: pass the .eval log of a lie_detection run"
        )
    try:
        return read_eval_log(str(path))
    except Exception as exc:  # Inspect raises several types for unreadable logs
        raise UserInputError(f"{path} is not a readable Inspect log ({exc})") from None


def load_feature_table(paths: Sequence[Path | str], keep_rows: bool = False) -> FeatureTable:
    """Features and labels of every lie/truth sample in these lie_detection logs.

    All logs must share one feature set (same follow-up questions, same feature kind).
    """
    if not paths:
        raise UserInputError("no logs given: pass one or more lie_detection .eval logs")
    X: list[list[float]] = []
    y: list[int] = []
    qids: list[str] = []
    topics: list[str] = []
    rows: list[dict[str, Any]] = []
    names: list[str] | None = None
    kind: str | None = None
    models: list[str] = []
    counts: Counter = Counter()
    for raw in paths:
        path = Path(raw)
        log = _read(path)
        if log.eval.task.split("/")[-1] != TASK_NAME:
            raise UserInputError(
                f"{path} is a log of task '{log.eval.task}', not {TASK_NAME}: run "
                "`inspect eval honesty_evals/lie_detection` to collect features"
            )
        if log.status != "success" or not log.samples:
            raise UserInputError(f"{path}: the run did not finish ({log.status}); rerun it")
        models.append(log.eval.model)
        for sample in log.samples:
            score = next(iter((sample.scores or {}).values()), None)
            meta = (score.metadata if score else None) or {}
            if "features" not in meta:
                raise UserInputError(f"{path}: sample {sample.id} has no features; rerun the task")
            counts[meta["label"]] += 1
            if meta["label"] not in INCLUDED_LABELS:
                continue
            if names is None:
                names, kind = list(meta["feature_names"]), meta["feature_kind"]
            if meta["feature_names"] != names or meta["feature_kind"] != kind:
                raise UserInputError(
                    f"{path}: sample {sample.id} has a different feature set "
                    f"({meta['feature_kind']}, {len(meta['feature_names'])} questions) from the "
                    f"first log ({kind}, {len(names)} questions): combine logs of the same run "
                    "settings"
                )
            X.append([float(v) for v in meta["features"]])
            y.append(1 if meta["label"] == "lie" else 0)
            qids.append(str(meta["question_id"]))
            topics.append(str(meta["topic"]))
            if keep_rows:
                rows.append(_conversation(sample, meta))
    if names is None:
        raise UserInputError(
            f"no usable samples in {', '.join(str(p) for p in paths)} (labels: "
            f"{dict(counts)}): every sample was excluded by the lie rule"
        )
    return FeatureTable(
        X=np.asarray(X, dtype=float).reshape(len(y), len(names)),
        y=np.asarray(y, dtype=int),
        question_ids=qids,
        topics=topics,
        feature_names=names,
        feature_kind=str(kind),
        models=sorted(set(models)),
        label_counts=counts,
        rows=rows,
    )


def _conversation(sample: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The sample's system prompt, question and answer (what the probe reads)."""
    system = next((m.text for m in sample.input if m.role == "system"), None)
    user = next(m.text for m in sample.input if m.role == "user")
    return {"system": system, "user": user, "answer": meta["answer"]}
