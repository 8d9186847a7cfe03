"""`honesty-evals compare`: paired difference in a choice task's headline probability.

Typical use: a backdoored model's backdoor_awareness log against its decorrelated control's
(PROTOCOLS §1). Questions are the unit: a question counts in a log only when every option
order it was asked in has a parsed answer (`common/questions.py`: with one order lost a
question's mean moves by the model's order bias, about 0.4 for SmolLM2); its orders are
averaged, questions counted in both logs are paired, and the mean difference gets the
package's interval for a mean over questions with the two-sided test it inverts
(`common.stats.paired_difference`). Questions left out (an order unparsed in either log, or
asked in only one) are listed with the reason.

**Seed families** (PROTOCOLS §0: fine-tuning results vary a lot between seeds). A side may
be several logs, one per fine-tuning seed of one model:
`honesty-evals compare A_s0.eval A_s1.eval A_s2.eval --vs B.eval`. Each side's per-question
value is then its mean over its seeds, on the questions counted in every log of both sides,
and the interval is the hierarchical bootstrap of `common.stats.family_difference` (seeds
within each side, then questions), so the seed-to-seed spread enters it; each candidate
seed's own difference from side B and their range (the seed spread) are printed. The logs
of one side must be distinct runs of distinct models on the same task, task version and
task parameters (the sampling `seed` parameter may differ); anything else is refused,
naming the two logs. Logs of the seeds of a family directory (`organism train --seeds`, run
as `local/DIR/seed-K`, as the audit runs `--model local/DIR`) are named as that family, and
one side's logs must all be of one family, which must itself be one base, data and recipe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from honesty_evals.common.choicelog import LogSummary, load_choice_log
from honesty_evals.common.methods import method_mismatch, sum_methods
from honesty_evals.common.stats import (
    FamilyDifference,
    PairedDifference,
    family_difference,
    paired_difference,
)
from honesty_evals.errors import UserInputError
from honesty_evals.training.family import SeedFamily, seed_family_of

# task parameters that may differ between the seeds of one family: the sampling seed of the
# answers (it usually follows the fine-tuning seed); every other parameter must match
FAMILY_VARYING_PARAMS = frozenset({"seed"})


def _left_out_lines(left_out: dict[str, str]) -> list[str]:
    """The render line naming the questions left out of the pairing, if any."""
    if not left_out:
        return []
    listed = ", ".join(f"{q} ({why})" for q, why in left_out.items())
    return [f"left out of the pairing: {len(left_out)} question(s): {listed}"]


def _not_comparable_lines(why: str | None) -> list[str]:
    """The line that marks a difference between two measurements as no comparison."""
    return [] if why is None else [f"NOT COMPARABLE: {why}"]


def _table_row(
    label: str, summary: LogSummary, mean: float, headline: str, orders: list[str]
) -> dict[str, object]:
    """One log's row of a comparison table: counts, its paired mean, its per-order means."""
    row: dict[str, object] = {
        "log": label,
        "model": summary.model,
        "condition": summary.task_args.get("condition", ""),
        "samples": summary.n_samples,
        "unparseable": summary.n_unparseable,
        "low mass": "" if summary.n_low_mass is None else summary.n_low_mass,
        "incomplete questions": summary.n_incomplete_questions,
        f"{headline} (paired questions)": round(mean, 4),
    }
    for order in orders:
        row[order] = round(summary.per_order.get(order, float("nan")), 4)
    return row


@dataclass
class Comparison:
    a: LogSummary
    b: LogSummary
    result: PairedDifference
    unpaired_questions: list[str]

    @property
    def headline(self) -> str:
        return self.a.headline

    @property
    def not_comparable(self) -> str | None:
        """Why A and B cannot be compared (scored by different methods), or None."""
        return method_mismatch(self.a.methods, self.b.methods, ("A", "B"))

    def table(self) -> pd.DataFrame:
        orders = sorted(set(self.a.per_order) | set(self.b.per_order))
        rows = []
        for label, summary, mean in (
            ("A", self.a, self.result.mean_a),
            ("B", self.b, self.result.mean_b),
        ):
            rows.append(_table_row(label, summary, mean, self.headline, orders))
        return pd.DataFrame(rows).set_index("log")

    def render(self) -> str:
        r = self.result
        pct = int(round(r.level * 100))
        lines = [
            f"{self.a.task}: {self.headline}, A = {self.a.path}, B = {self.b.path}",
            self.table().to_string(),
            "",
            f"difference A - B: {r.difference:+.4f}  [{pct}% CI {r.ci_low:+.4f}, {r.ci_high:+.4f}]"
            f"  p = {r.p_value:.4g}  ({r.n_pairs} questions paired; {r.method})",
        ]
        lines += _not_comparable_lines(self.not_comparable)
        lines += _left_out_lines(self.left_out())
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
    )
    return Comparison(a=a, b=b, result=result, unpaired_questions=unpaired)


# -- seed families ------------------------------------------------------------------------


def _arg_value(value: object) -> object:
    """A task argument as comparable plain data (NaN and None alike: not set)."""
    try:
        # any task argument goes in (lists raise, caught below); pandas-stubs' pd.isna accepts
        # only the types it names
        if value is None or pd.isna(value):  # type: ignore[call-overload]
            return None
    except (TypeError, ValueError):  # lists and dicts
        pass
    return value.item() if hasattr(value, "item") else value


def _differing_args(a: LogSummary, b: LogSummary) -> list[str]:
    keys = (set(a.task_args) | set(b.task_args)) - FAMILY_VARYING_PARAMS
    return sorted(
        k for k in keys if _arg_value(a.task_args.get(k)) != _arg_value(b.task_args.get(k))
    )


def check_family(members: Sequence[LogSummary], side: str) -> None:
    """Refuse a side whose logs are not distinct seeds of one model on one task setup.

    One line naming the two logs and what differs: the same log twice (the same file, or a
    copy of it), the same model twice, another task, task version or task parameters.
    """
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            pair = f"{side}: {a.path} and {b.path}"
            if a.path.resolve() == b.path.resolve() or (a.eval_id and a.eval_id == b.eval_id):
                raise UserInputError(
                    f"{pair} are the same log (eval {a.eval_id}): give each seed's log once"
                )
            if a.task != b.task:
                raise UserInputError(
                    f"{pair} are logs of different tasks ({a.task} vs {b.task}): the logs of "
                    "one side must be seeds of one model on one task"
                )
            if a.task_version != b.task_version:
                raise UserInputError(
                    f"{pair} are of different versions of {a.task} ({a.task_version} vs "
                    f"{b.task_version}): rerun the older one with this package"
                )
            differing = _differing_args(a, b)
            if differing:
                what = ", ".join(
                    f"{k}={_arg_value(a.task_args.get(k))!r} vs {_arg_value(b.task_args.get(k))!r}"
                    for k in differing
                )
                raise UserInputError(
                    f"{pair} were run with different task parameters ({what}): the seeds of "
                    "one side must be run with the same parameters"
                )
            if a.model == b.model:
                raise UserInputError(
                    f"{pair} are both of model {a.model}: the logs of one side must be "
                    "different fine-tuning seeds (different models) of one organism"
                )
    _check_family_directory(members, side)


def _family_text(found: tuple[SeedFamily, int] | None, model: str) -> str:
    if found is None:
        return f"model {model}, of no seed family"
    family, seed = found
    return f"seed {seed} of the seed family {family.directory}"


def _check_family_directory(members: Sequence[LogSummary], side: str) -> None:
    """Logs of `local/DIR/seed-K` models whose DIR holds a family card (`organism train
    --seeds`) are all of one family, which is itself checked (one base, data and recipe)."""
    found = [seed_family_of(s.model) for s in members]
    directories = [f[0].directory.resolve() if f else None for f in found]
    for i in range(1, len(members)):
        if directories[i] != directories[0]:
            a, b = members[0], members[i]
            raise UserInputError(
                f"{side}: {a.path} is of {_family_text(found[0], a.model)} but {b.path} of "
                f"{_family_text(found[i], b.model)}: the logs of one side must be the seeds "
                "of one family"
            )


def family_label(members: Sequence[LogSummary]) -> str | None:
    """`seed family DIR (seeds 0, 1, 2)` when the logs are of a family directory's seeds."""
    found = [seed_family_of(s.model) for s in members]
    if not found or any(f is None for f in found):
        return None
    first = found[0]
    assert first is not None
    seeds = ", ".join(str(f[1]) for f in found if f is not None)
    return f"seed family {first[0].directory} (seeds {seeds})"


@dataclass
class FamilyComparison:
    """Side A's seeds against side B's seeds (at least one side has several logs)."""

    a: list[LogSummary]
    b: list[LogSummary]
    result: FamilyDifference
    questions: list[str]  # counted in every log: the paired questions
    unpaired_questions: list[str]  # counted in some log but not in every one

    @property
    def headline(self) -> str:
        return self.a[0].headline

    @property
    def not_comparable(self) -> str | None:
        """Why the sides cannot be compared (scored by different methods), or None."""
        a, b = (sum_methods(s.methods for s in side) for side in (self.a, self.b))
        return method_mismatch(a, b, ("A", "B"))

    @property
    def p_value(self) -> float:
        """Two-sided bootstrap p of H0: difference = 0 (the interval's own test)."""
        r = self.result
        return min(1.0, 2.0 * min(r.p_greater(0.0), r.p_less(0.0)))

    def table(self) -> pd.DataFrame:
        orders = sorted({o for s in [*self.a, *self.b] for o in s.per_order})
        rows = []
        for side, members in (("A", self.a), ("B", self.b)):
            for i, summary in enumerate(members, start=1):
                mean = float(summary.per_question.loc[self.questions].mean())
                label = f"{side}{i}" if len(members) > 1 else side
                rows.append(_table_row(label, summary, mean, self.headline, orders))
        return pd.DataFrame(rows).set_index("log")

    def render(self) -> str:
        r = self.result
        pct = int(round(r.level * 100))
        n_a, n_b = r.n_seeds

        def side(members: list[LogSummary]) -> str:
            paths = ", ".join(str(s.path) for s in members)
            named = family_label(members) or f"{len(members)} seed(s)"
            return f"{named} ({paths})" if len(members) > 1 else paths

        low, high = r.seed_spread
        per_seed = ", ".join(f"A{i} {d:+.4f}" for i, d in enumerate(r.per_seed, start=1))
        lines = [
            f"{self.a[0].task}: {self.headline}, A = {side(self.a)}, B = {side(self.b)}",
            self.table().to_string(),
            "",
            f"difference A - B: {r.difference:+.4f}  [{pct}% CI {r.ci_low:+.4f}, "
            f"{r.ci_high:+.4f}]  p = {self.p_value:.4g}  ({r.n_questions} questions paired; "
            f"seeds: A {n_a}, B {n_b}; {r.method})",
            f"per seed of A (minus B's mean over its {n_b} seed(s)): {per_seed}; spread across "
            f"seeds {low:+.4f} to {high:+.4f}",
        ]
        lines += _not_comparable_lines(self.not_comparable)
        lines += _left_out_lines(self.left_out())
        masses = {s.min_label_mass for s in [*self.a, *self.b]}
        if len(masses) > 1:
            a_mass, b_mass = (
                "not set" if m is None else f"{m:g}"
                for m in (self.a[0].min_label_mass, self.b[0].min_label_mass)
            )
            lines.append(
                f"warning: the sides were scored with different min_label_mass (A {a_mass}, "
                f"B {b_mass}): an answer can count in one and not in the other; rerun one "
                "side with the other's -T min_label_mass"
            )
        return "\n".join(lines)

    def _labelled(self) -> list[tuple[str, LogSummary]]:
        return [
            (f"{name}{i}" if len(members) > 1 else name, summary)
            for name, members in (("A", self.a), ("B", self.b))
            for i, summary in enumerate(members, start=1)
        ]

    def left_out(self) -> dict[str, str]:
        """Every question asked in any log but not paired, with the reason."""
        runs = self._labelled()
        asked = set().union(
            *(set(map(str, s.per_question.index)) | set(s.incomplete_questions) for _, s in runs)
        )
        reasons: dict[str, str] = {}
        for q in sorted(asked - set(self.questions)):
            unparsed = [label for label, s in runs if q in s.incomplete_questions]
            reasons[q] = (
                "an option order unparsed in " + ", ".join(unparsed)
                if unparsed
                else "not asked in every log"
            )
        return reasons


def compare_families(
    logs_a: Sequence[str | Path],
    logs_b: Sequence[str | Path],
    level: float = 0.95,
    seed: int = 0,
) -> Comparison | FamilyComparison:
    """Compare two sides of one or more logs each (one log per side: `compare_logs`)."""
    if not logs_a or not logs_b:
        raise UserInputError("each side needs at least one log")
    if len(logs_a) == 1 and len(logs_b) == 1:
        return compare_logs(logs_a[0], logs_b[0], level=level, seed=seed)
    a = [load_choice_log(p) for p in logs_a]
    b = [load_choice_log(p) for p in logs_b]
    check_family(a, "side A")
    check_family(b, "side B")
    if a[0].task != b[0].task:
        raise UserInputError(
            f"the sides are logs of different tasks ({a[0].task} vs {b[0].task}): compare "
            "logs of the same task"
        )
    runs = [*a, *b]
    # a question counts in a log only with every option order parsed (`common/questions.py`);
    # it is paired only when it counts in every log of both sides
    indexes = [set(s.per_question.index) for s in runs]
    common = sorted(set.intersection(*indexes))
    if len(common) < 2:
        raise UserInputError(
            f"only {len(common)} question(s) are counted in every log (every option order "
            "parsed): a paired comparison needs at least 2 (were they run with the same "
            "questions?)"
        )
    unpaired = sorted(set.union(*indexes) - set(common))

    def values(s: LogSummary) -> dict[str, float]:
        return {str(q): float(v) for q, v in s.per_question.loc[common].items()}

    result = family_difference(
        [values(s) for s in a], [values(s) for s in b], level=level, seed=seed
    )
    return FamilyComparison(a=a, b=b, result=result, questions=common, unpaired_questions=unpaired)
