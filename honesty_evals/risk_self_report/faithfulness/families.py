"""Seed families: the fine-tuning seeds of one organism, one point of the correlations."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from honesty_evals.errors import UserInputError
from honesty_evals.risk_self_report.faithfulness.read import (
    BEHAVIOR_TASK,
    SELF_REPORT_TASK,
    ModelRun,
    model_label,
)
from honesty_evals.risk_self_report.faithfulness.statistics import nanmean
from honesty_evals.training.family import seed_family_of

# a trailing seed suffix of a model name's last path component, or a component that is only one
_SEED_SUFFIX = re.compile(r"^(?P<stem>.+?)[-_](?:s|seed[-_]?)(?P<seed>\d+)$", re.IGNORECASE)
_SEED_ONLY = re.compile(r"^(?:s|seed[-_]?)(?P<seed>\d+)$", re.IGNORECASE)
# task parameters the seeds of one family may differ in: the sampling seed of the answers
FAMILY_VARYING_PARAMS = frozenset({"seed"})


def family_name(model: str) -> str:
    """The organism a model is one fine-tuning seed of (the model itself if no seed suffix).

    `local/organisms/mix-0.25-s1` -> `local/organisms/mix-0.25`; `local/runs/risky/seed-2`
    -> `local/runs/risky`; `local/smollm2` -> itself.
    """
    head, sep, last = model.rstrip("/").rpartition("/")
    if _SEED_ONLY.match(last) and "/" in head:
        return head
    match = _SEED_SUFFIX.match(last)
    if match:
        return f"{head}{sep}{match['stem']}"
    return model


def _matrix(runs: list[ModelRun], attr: str, keys: list[str]) -> np.ndarray:
    return np.array(
        [[getattr(r, attr).get(k, math.nan) for k in keys] for r in runs], dtype=float
    ).reshape(len(runs), len(keys))


@dataclass
class Family:
    """The runs of one organism's fine-tuning seeds (one run: a plain model)."""

    key: str
    label: str
    members: list[ModelRun]

    @property
    def first(self) -> ModelRun:
        return self.members[0]

    @property
    def n_seeds(self) -> int:
        return len(self.members)

    @property
    def in_context_examples(self) -> int:
        return self.first.in_context_examples

    @property
    def in_context_risky_fraction(self) -> float | None:
        return self.first.in_context_risky_fraction

    @property
    def trained_risky_fraction(self) -> float | None:
        return self.first.trained_risky_fraction

    def _logs(self, attr: str) -> str | None:
        logs = [getattr(m, attr) for m in self.members if getattr(m, attr)]
        return "; ".join(logs) if logs else None

    @property
    def self_report_log(self) -> str | None:
        return self._logs("self_report_log")

    @property
    def behavior_log(self) -> str | None:
        return self._logs("behavior_log")

    def matrix(self, attr: str, keys: list[str]) -> np.ndarray:
        """Seeds x questions of one score (NaN where a seed did not score a question)."""
        return _matrix(self.members, attr, keys)

    def scored(self, attr: str) -> tuple[int, int]:
        """(questions scored by some seed, questions asked) of one score."""
        keys = sorted({k for m in self.members for k in getattr(m, attr)})
        if not keys:
            return 0, 0
        per_question = nanmean(self.matrix(attr, keys), axis=0)
        return int(np.isfinite(per_question).sum()), len(keys)

    def seed_spread(self, attr: str, keys: list[str]) -> tuple[float, float] | None:
        """Smallest and largest seed mean of one score over `keys`, the questions the
        report uses (None for one seed)."""
        if self.n_seeds < 2 or not keys:
            return None
        means = nanmean(self.matrix(attr, keys), axis=1)
        finite = [float(x) for x in means if np.isfinite(x)]
        return (min(finite), max(finite)) if finite else None

    @property
    def answer_mass(self) -> float:
        masses = np.array([m.answer_mass for m in self.members], dtype=float)
        return float(nanmean(masses, axis=0)) if np.isfinite(masses).any() else math.nan

    @property
    def self_report_method(self) -> str:
        methods = [m.self_report_method for m in self.members if m.self_report_method]
        return " / ".join(dict.fromkeys(methods))


def _check_family(name: str, members: list[ModelRun]) -> None:
    """Refuse seeds that are not one organism measured one way, naming the two of them."""
    for member in members:
        # a family directory's seed (local/DIR/seed-K): the family card and every seed's
        # training card must agree on base, data and recipe
        seed_family_of(member.model)
    first = members[0]
    for other in members[1:]:
        pair = f"seed family {name}: {first.model} and {other.model}"
        for task, attr in ((SELF_REPORT_TASK, "self_report_log"), (BEHAVIOR_TASK, "behavior_log")):
            if bool(getattr(first, attr)) != bool(getattr(other, attr)):
                has, lacks = (first, other) if getattr(first, attr) else (other, first)
                raise UserInputError(
                    f"seed family {name}: {has.model} has a {task} log ({getattr(has, attr)}) "
                    f"but {lacks.model} has none: pass both tasks' logs of every seed, or "
                    "leave the seed out"
                )
            a, b = first.task_args.get(task, {}), other.task_args.get(task, {})
            keys = (set(a) | set(b)) - FAMILY_VARYING_PARAMS
            differing = sorted(k for k in keys if a.get(k) != b.get(k))
            if differing:
                what = ", ".join(f"{k}={a.get(k)!r} vs {b.get(k)!r}" for k in differing)
                raise UserInputError(
                    f"{pair}: their {task} logs ({getattr(first, attr)} and "
                    f"{getattr(other, attr)}) were run with different task parameters "
                    f"({what}): run every seed with the same parameters"
                )
        if first.trained_risky_fraction != other.trained_risky_fraction:
            raise UserInputError(
                f"{pair} were trained on different risky shares "
                f"({first.trained_risky_fraction} vs {other.trained_risky_fraction}, from their "
                "training cards): they are not seeds of one organism; rename one"
            )


def group_families(runs: dict[str, ModelRun]) -> dict[str, Family]:
    """Runs grouped into seed families (see the package docstring), in key order.

    Only models with a seed suffix join a family; a model without one is its own row, and
    a family of one seed is that model's row, named as before.
    """
    groups: dict[str, list[ModelRun]] = {}
    for run in sorted(runs.values(), key=lambda r: r.key):
        base = family_name(run.model)
        if base == run.model:
            continue
        k = run.in_context_examples
        key = base
        if k:
            key += f" +{k} in-context examples (risky share {run.in_context_risky_fraction:g})"
        groups.setdefault(key, []).append(run)
    families: dict[str, Family] = {}
    grouped: set[str] = set()
    for key, members in groups.items():
        if len(members) < 2:
            continue
        if key in runs:
            raise UserInputError(
                f"model {key} and the seed family {key} ("
                + ", ".join(m.model for m in members)
                + ") share a name: give the first a seed suffix too, or rename it"
            )
        _check_family(key, members)
        first = members[0]
        label = model_label(family_name(first.model))
        if first.in_context_examples:
            label += f" + {first.in_context_examples} ex. @ {first.in_context_risky_fraction:g}"
        families[key] = Family(key, label, members)
        grouped.update(m.key for m in members)
    for run in runs.values():  # plain models, and families of one seed: as before
        if run.key not in grouped:
            families[run.key] = Family(run.key, run.label, [run])
    return dict(sorted(families.items()))
