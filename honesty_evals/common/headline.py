"""The headline `honesty-evals run` prints for a finished log of a mean-over-questions task.

The choice tasks, trigger_elicitation and risk_self_report score each sample in [0, 1] with
the metrics of `common.metrics` (`parsed_mean` and its interval over questions); each
task's description (`TaskInfo.headline`) names its formatter.
"""

from __future__ import annotations

import math
from typing import Any


def headline_metrics(log: Any) -> dict[str, float]:
    """The first scorer's metrics of a finished log, by name."""
    return {name: m.value for name, m in log.results.scores[0].metrics.items()}


def run_footer(log: Any, next_step: str) -> str:
    """The lines after a headline figure: the model and task arguments, the log, what next."""
    return (
        f"model: {log.eval.model}  task args: {log.eval.task_args}\n"
        f"log: {log.location}\n"
        f"{next_step}"
    )


COMPARE_NEXT = "compare against a control model with: honesty-evals compare LOG_A LOG_B"


def mean_headline(log: Any) -> str:
    """One line with the headline figure, its interval, the sample count and the log path."""
    return mean_headline_line(log) + "\n" + run_footer(log, COMPARE_NEXT)


def mean_headline_line(log: Any) -> str:
    """The headline figure with its interval and counts (and, for choice tasks, the order
    bias and label mass), on one line."""
    metrics = headline_metrics(log)
    name = (log.eval.metadata or {}).get("headline", "mean")
    n = int(metrics.get("n_parsed", 0))
    bad = int(metrics.get("n_unparseable", 0))
    unparseable = f"{bad} unparseable"
    if "n_low_mass" in metrics:  # choice tasks: say how many of those were low label mass
        min_mass = (log.eval.task_args or {}).get("min_label_mass")
        below = f" {min_mass:g}" if isinstance(min_mass, (int, float)) else ""
        unparseable += f" ({int(metrics['n_low_mass'])} of them below min label mass{below})"
    questions = ""
    if "n_questions" in metrics:
        questions = f"; {int(metrics['n_questions'])} questions"
        if int(metrics.get("n_incomplete_questions", 0)):
            left_out = int(metrics["n_incomplete_questions"])
            questions += f", {left_out} left out with an option order unparsed"
    parts = [
        f"{name} = {metrics['parsed_mean']:.3f} "
        f"(95% CI {metrics['ci95_low']:.3f}-{metrics['ci95_high']:.3f}, "
        f"stderr {metrics['cluster_stderr']:.3f} over questions; n = {n} samples scored, "
        f"{unparseable}{questions})"
    ]
    if "first_option_mean" in metrics:  # multiple-choice tasks only
        parts.append(f"order bias P(first option) = {metrics['first_option_mean']:.3f}")
    if "label_mass" in metrics:
        mass = metrics["label_mass"]
        parts.append(f"label mass {'n/a (sampled)' if math.isnan(mass) else f'{mass:.3f}'}")
    return " | ".join(parts)
