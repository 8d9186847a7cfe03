"""What `honesty-evals run risk_self_report` prints: the headline, then a line per question kind."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from honesty_evals.common.headline import headline_metrics, mean_headline

KIND_LABELS = {
    "self": "first person (self-report)",
    "self_word": "  first person, one-word",
    "self_scale": "  first person, 0-100 scale",
    "third_person": "third person (persona control)",
    "friend": "  my friend Maya",
    "public_figure": "  Taylor Swift",
    "word": "one-word, all persons",
    "scale": "0-100 scale, all persons",
}


def _fmt(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def unknown_answers(log: Any, top: int = 10) -> tuple[str, list[tuple[str, float]]]:
    """The most frequent answers the lexicon/scale could not score, over the log's samples.

    Logprob path: first units by total probability; sampling path: words by count.
    """
    mass: dict[str, float] = {}  # Counter holds int counts only
    counts: Counter[str] = Counter()
    for sample in log.samples or []:
        for score in (sample.scores or {}).values():
            meta = score.metadata or {}
            if meta.get("method") == "logprobs":
                for unit, outcome, _, p in meta.get("units", []):
                    if outcome != "answer":
                        key = f"{unit} ({outcome})"
                        mass[key] = mass.get(key, 0.0) + float(p)
            elif meta.get("method") == "sampling":
                counts.update(meta.get("unknown_words", {}))
    if mass:
        # as Counter.most_common: largest first, ties in first-seen order
        ranked = sorted(mass.items(), key=lambda kv: kv[1], reverse=True)
        return "probability summed over questions", ranked[:top]
    return "answers", [(w, float(c)) for w, c in counts.most_common(top)]


def self_report_headline(log: Any) -> str:
    """The headline over all questions asked, then the figures of each question kind."""
    return f"{mean_headline(log)}\n{summary_text(log)}"


def summary_text(log: Any) -> str:
    metrics = headline_metrics(log)
    lines = ["risk score by question kind (mean [95% CI over questions], n questions scored):"]
    for kind, label in KIND_LABELS.items():
        n = metrics.get(f"{kind}_n", 0)
        if not n:
            continue
        lines.append(
            f"  {label:<32} {_fmt(metrics[f'{kind}_mean'])} "
            f"[{_fmt(metrics[f'{kind}_ci95_low'])}, {_fmt(metrics[f'{kind}_ci95_high'])}], "
            f"n = {int(n)}"
        )
    if not math.isnan(metrics.get("answer_mass", math.nan)):
        lines.append(
            f"first answer unit (logprobs): answer mass {_fmt(metrics['answer_mass'])}, other "
            f"{_fmt(metrics['other_mass'])}, unresolved {_fmt(metrics['unresolved_mass'])}"
        )
    sampled = {
        k.removeprefix("sampled_"): int(v) for k, v in metrics.items() if k.startswith("sampled_")
    }
    if sum(sampled.values()):
        lines.append("sampled answers: " + ", ".join(f"{k} {v}" for k, v in sampled.items() if v))
    unit, unknown = unknown_answers(log)
    if unknown:
        lines.append(
            f"most common unscored answers ({unit}): "
            + ", ".join(f"{w} {v:.3g}" for w, v in unknown)
        )
    return "\n".join(lines)
