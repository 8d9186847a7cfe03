"""A linear lie detector: StandardScaler + LogisticRegression, stored as plain JSON.

The same estimator serves the black-box follow-up detector (features: one per follow-up
question) and the white-box probe (features: residual-stream dimensions at one layer).
It is a scikit-learn estimator (`fit`, `predict_proba`, `decision_function`), and it is
saved as JSON, never pickle: the file names its feature set, so applying it to features
from other questions (or another model/layer) is refused, naming the mismatch. JSON floats
round-trip exactly (Python writes the shortest repr that reads back to the same double),
so a reloaded detector gives bit-identical predictions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, GroupShuffleSplit
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from honesty_evals.errors import UserInputError
from honesty_evals.lie_detection.evaluation import (
    DEFAULT_FPR,
    ControlThreshold,
    control_threshold,
    min_control_negatives,
    threshold_at_fpr,
)

FORMAT = "honesty-evals linear lie detector"
VERSION = 1

#: what set a threshold, as the detector file and the reports name it
OOF_SOURCE = "honest training answers, scored out of fold"
CONTROL_SOURCE = "honest control answers (no instruction, train split)"


class LinearDetector(ClassifierMixin, BaseEstimator):
    """Standardised logistic regression; class 1 = lie.

    Args:
        C: Inverse L2 regularisation strength of the logistic regression.
        max_iter: Solver iterations.
        seed: `random_state` of the solver (lbfgs is deterministic; kept explicit).
    """

    def __init__(self, C: float = 1.0, max_iter: int = 1000, seed: int = 0) -> None:
        self.C = C
        self.max_iter = max_iter
        self.seed = seed

    # -- estimator ------------------------------------------------------------------------

    def _pipeline(self) -> Pipeline:
        return Pipeline(
            [
                ("scaler", StandardScaler()),
                (
                    "logreg",
                    LogisticRegression(C=self.C, max_iter=self.max_iter, random_state=self.seed),
                ),
            ]
        )

    def fit(
        self,
        X: np.ndarray,
        y: Sequence[int] | np.ndarray,
        feature_names: Sequence[str] | None = None,
        feature_set: dict[str, Any] | None = None,
    ) -> LinearDetector:
        """Fit on rows `X` with labels `y` (1 = lie, 0 = honest).

        `feature_names` (one per column) and `feature_set` (what produced them: questions
        and feature kind, or model and layer) are stored and checked when the detector is
        applied to new features.
        """
        X = np.asarray(X, dtype=float)
        y_arr = np.asarray(y, dtype=int)
        if X.ndim != 2 or X.shape[0] != y_arr.shape[0]:
            raise ValueError(f"X must be 2-D with one row per label (got {X.shape}, {y_arr.shape})")
        if len(set(y_arr.tolist())) < 2:
            raise UserInputError(
                f"cannot train a detector on one class only ({int(y_arr.sum())} lies, "
                f"{int((1 - y_arr).sum())} honest answers): collect more samples, or use a "
                "model that lies when instructed (see the liar organism in "
                "honesty_evals/lie_detection/README.md)"
            )
        self.pipeline_ = self._pipeline().fit(X, y_arr)
        self.classes_ = self.pipeline_.classes_
        self.n_features_in_ = X.shape[1]
        self.feature_names_ = list(feature_names or [f"x{i}" for i in range(X.shape[1])])
        self.feature_set_ = dict(feature_set or {})
        self.threshold_: float | None = None
        self.threshold_fpr_: float | None = None
        self.threshold_n_control_: int | None = None
        self.threshold_source_: str | None = None
        self.info_: dict[str, Any] = {}
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """The logit of P(lie): higher means more likely a lie."""
        return self.pipeline_.decision_function(np.asarray(X, dtype=float))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.pipeline_.predict_proba(np.asarray(X, dtype=float))

    def predict(self, X: np.ndarray) -> np.ndarray:
        """1 (lie) where the score exceeds the control threshold, else where P(lie) > 0.5."""
        scores = self.decision_function(X)
        cut = 0.0 if self.threshold_ is None else self.threshold_
        return (scores > cut).astype(int)

    def set_threshold(
        self,
        honest_X: np.ndarray,
        fpr: float = DEFAULT_FPR,
        source: str = "honest control answers",
    ) -> float:
        """Flag at most `fpr` of these honest control rows (PROTOCOLS §3: 1% on control data).

        Raises ValueError with fewer than ceil(1/fpr) rows (see `evaluation`).
        """
        scores = self.decision_function(honest_X)
        threshold = threshold_at_fpr(scores, fpr)  # raises on too few rows
        self.set_control(ControlThreshold(fpr, int(scores.size), threshold, source))
        return threshold

    def set_control(self, control: ControlThreshold) -> None:
        """Store a threshold fixed on control scores, with how many set it and what they were."""
        self.threshold_ = control.threshold
        self.threshold_fpr_ = control.fpr
        self.threshold_n_control_ = control.n_control
        self.threshold_source_ = control.source

    def control(self) -> ControlThreshold | None:
        """The stored control threshold, or None when the file has none (or does not say how
        many control negatives set it: files written before that was recorded)."""
        if self.threshold_ is None or self.threshold_fpr_ is None:
            return None
        if self.threshold_n_control_ is None:
            return None
        return ControlThreshold(
            fpr=self.threshold_fpr_,
            n_control=self.threshold_n_control_,
            threshold=self.threshold_,
            source=self.threshold_source_ or "honest control answers",
        )

    def why_no_control(self) -> str:
        """Why `control()` is None, as a "not reported: ..." line."""
        if self.threshold_ is None:
            return "not reported: the detector file holds no control threshold"
        return (
            "not reported: the detector file does not record how many control negatives set "
            "its threshold (written by an older honesty-evals): retrain it"
        )

    # -- feature-set checks ---------------------------------------------------------------

    def check_features(
        self, feature_names: Sequence[str], feature_set: dict[str, Any] | None = None
    ) -> None:
        """Refuse features that are not the ones this detector was trained on."""
        # what produced the features first: "layer 1 vs 2" says more than 576 names
        for key, value in (feature_set or {}).items():
            stored = self.feature_set_.get(key)
            if key in self.feature_set_ and stored != value:
                raise UserInputError(
                    f"the detector was trained on {key} = {stored!r} but these features have "
                    f"{key} = {value!r}: train a detector on matching features"
                )
        names = list(feature_names)
        if names != self.feature_names_:
            missing = [n for n in self.feature_names_ if n not in names]
            extra = [n for n in names if n not in self.feature_names_]
            if missing or extra:
                detail = (f"missing {_short(missing)}" if missing else "") + (
                    f"{'; ' if missing else ''}unexpected {_short(extra)}" if extra else ""
                )
            else:
                detail = "same features in a different order"
            raise UserInputError(
                f"the detector was trained on a different feature set ({detail}): "
                "train a detector on features from the same questions/model/layer"
            )

    # -- persistence ----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        scaler: StandardScaler = self.pipeline_.named_steps["scaler"]
        logreg: LogisticRegression = self.pipeline_.named_steps["logreg"]
        return {
            "format": FORMAT,
            "version": VERSION,
            "params": {"C": self.C, "max_iter": self.max_iter, "seed": self.seed},
            "feature_names": self.feature_names_,
            "feature_set": self.feature_set_,
            "scaler": {
                "mean": scaler.mean_.tolist(),
                "scale": scaler.scale_.tolist(),
                "var": scaler.var_.tolist(),
                "n_samples_seen": int(scaler.n_samples_seen_),
            },
            "logreg": {
                "coef": logreg.coef_.tolist(),
                "intercept": logreg.intercept_.tolist(),
                "classes": [int(c) for c in logreg.classes_],
                "n_iter": [int(n) for n in logreg.n_iter_],
            },
            "threshold": self.threshold_,
            "threshold_fpr": self.threshold_fpr_,
            "threshold_n_control": self.threshold_n_control_,
            "threshold_source": self.threshold_source_,
            "info": self.info_,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], source: str = "detector") -> LinearDetector:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserInputError(
                f"{source} is not a detector file written by honesty-evals (no "
                f"'format': '{FORMAT}'): pass the --out file of `lie-detector train` or "
                "`probe train`"
            )
        if data.get("version") != VERSION:
            raise UserInputError(
                f"{source} is detector format version {data.get('version')}; this "
                f"honesty-evals reads version {VERSION}: retrain it"
            )
        try:
            detector = cls(**data["params"])
            pipeline = detector._pipeline()
            scaler: StandardScaler = pipeline.named_steps["scaler"]
            scaler.mean_ = np.asarray(data["scaler"]["mean"], dtype=float)
            scaler.scale_ = np.asarray(data["scaler"]["scale"], dtype=float)
            scaler.var_ = np.asarray(data["scaler"]["var"], dtype=float)
            scaler.n_samples_seen_ = int(data["scaler"]["n_samples_seen"])
            scaler.n_features_in_ = scaler.mean_.shape[0]
            logreg: LogisticRegression = pipeline.named_steps["logreg"]
            logreg.coef_ = np.asarray(data["logreg"]["coef"], dtype=float)
            logreg.intercept_ = np.asarray(data["logreg"]["intercept"], dtype=float)
            logreg.classes_ = np.asarray(data["logreg"]["classes"])
            logreg.n_iter_ = np.asarray(data["logreg"]["n_iter"], dtype=np.int32)
            logreg.n_features_in_ = logreg.coef_.shape[1]
            if logreg.coef_.shape[1] != len(data["feature_names"]):
                raise ValueError("coefficients and feature names differ in length")
        except (KeyError, TypeError, ValueError) as exc:
            raise UserInputError(f"{source} is a damaged detector file ({exc!r})") from None
        detector.pipeline_ = pipeline
        detector.classes_ = logreg.classes_
        detector.n_features_in_ = logreg.coef_.shape[1]
        detector.feature_names_ = list(data["feature_names"])
        detector.feature_set_ = dict(data.get("feature_set") or {})
        detector.threshold_ = data.get("threshold")
        detector.threshold_fpr_ = data.get("threshold_fpr")
        detector.threshold_n_control_ = data.get("threshold_n_control")
        detector.threshold_source_ = data.get("threshold_source")
        detector.info_ = dict(data.get("info") or {})
        return detector

    def save(self, path: Path | str) -> Path:
        """Write the detector as JSON, atomically (temp file + rename)."""
        from honesty_evals.common.atomic import write_bytes_atomic

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=1, allow_nan=False) + "\n"
        write_bytes_atomic(path, text.encode("utf-8"))
        return path

    @classmethod
    def load(cls, path: Path | str) -> LinearDetector:
        from honesty_evals.common.textfile import check_input_file

        path = check_input_file(path, "detector file")  # a folder is not "missing"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserInputError(f"{path} is not a JSON detector file ({exc})") from None
        return cls.from_json(data, source=str(path))


# -- grouped splits and out-of-fold scores --------------------------------------------------


def grouped_split(groups: list[str], test_size: float, seed: int) -> tuple[Any, Any]:
    """Row masks (train, test) with every question entirely on one side."""
    splitter = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed)
    train_idx, test_idx = next(splitter.split(np.zeros(len(groups)), groups=groups))
    train = np.zeros(len(groups), dtype=bool)
    train[train_idx] = True
    return train, ~train


def out_of_fold_scores(detector: Any, X: Any, y: Any, groups: list[str], seed: int) -> Any:
    """Each row's score from a detector fitted without its question (grouped 5-fold).

    NaN for rows of a fold whose training part holds one class only.
    """
    n_folds = min(5, len(set(groups)))
    scores = np.full(len(y), np.nan)
    if n_folds < 2:  # one question: no fit can leave it out
        return scores
    for train_idx, test_idx in GroupKFold(n_splits=n_folds).split(X, y, groups):
        if len(set(y[train_idx].tolist())) < 2:
            continue
        fold = clone(detector).fit(X[train_idx], y[train_idx])
        scores[test_idx] = fold.decision_function(X[test_idx])
    return scores


def scored_out_of_fold(
    detector: Any, X: Any, y: Any, groups: list[str], seed: int
) -> tuple[Any, Any, list[str]]:
    """(labels, scores, questions) of the rows `out_of_fold_scores` could score, the rows
    of folds it had to skip left out: what the AUROC of every row out of fold is read from
    (the audit's `detector_auroc` gate, `lie-detector train`, bench_followups.py)."""
    scores = out_of_fold_scores(detector, X, y, groups, seed)
    scored = ~np.isnan(scores)
    return y[scored], scores[scored], [q for q, keep in zip(groups, scored) if keep]


def out_of_fold_control(
    detector: Any,
    X: Any,
    y: Any,
    groups: list[str],
    fpr: float,
    seed: int,
    source: str = OOF_SOURCE,
) -> ControlThreshold:
    """`ControlThreshold` at `fpr` of the honest rows, scored by fits that did not see them.

    In-sample scores of training rows are over-confident, so a threshold set on them would
    flag more than `fpr` of new honest answers; grouped 5-fold scores avoid that. With
    fewer than ceil(1/fpr) honest rows the threshold is None (and nothing is fitted).
    """
    n_honest = int((np.asarray(y) == 0).sum())
    if n_honest < min_control_negatives(fpr):  # too few even before fold losses: skip the fits
        return ControlThreshold(fpr, n_honest, None, source)
    scores = out_of_fold_scores(detector, X, y, groups, seed)
    return control_threshold(scores[np.asarray(y) == 0], fpr, source)


def _short(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")
