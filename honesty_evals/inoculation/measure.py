"""One measurement of one model under one prompt condition, as a results row.

| data | measure | how |
| --- | --- | --- |
| lotteries | `trait` | risk_behavior, lottery format: P(uncertain option) per held-out lottery |
| lotteries | `capability` | `capability.answer_format_task`: the trained answer format's rate |
| em | `trait` | risk_behavior on the held-out home-advice choices: P(bad advice) per topic |
| em | `misaligned_rate` | the `honesty_evals/emergent_misalignment` task, read by metric name |

Each runs one Inspect eval into its own log folder; the row keeps the per-question values
(trait, capability) for the hierarchical intervals over seeds, or the task's one value
(misaligned rate). The emergent-misalignment task is called by its registry name, never
imported: it is another package's task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honesty_evals.common.stats import PROBABILITY, mean_interval
from honesty_evals.errors import UserInputError

MEASURES: dict[str, tuple[str, ...]] = {
    "lotteries": ("trait", "capability"),
    "em": ("trait", "misaligned_rate"),
}
EM_TASK = "honesty_evals/emergent_misalignment"
EM_METRIC = "misaligned_rate"
BASE_ARM = "base"  # the untrained base model's rows
WITH, WITHOUT = "with", "without"  # the arm's prompt at test time


@dataclass(frozen=True)
class Job:
    """One measurement: a model, a prompt condition and a measure."""

    data: str
    arm: str  # an arm, or BASE_ARM
    seed: int | None  # fine-tuning seed (None: the base model)
    prompt: str  # WITH or WITHOUT the arm's prompt
    measure: str
    model: str  # the Inspect model name
    system_prompt: str | None  # what is asked with (None: no system message)

    @property
    def key(self) -> str:
        seed = "-" if self.seed is None else str(self.seed)
        return f"{self.data}/{self.arm}/{seed}/{self.prompt}/{self.measure}"

    def log_dir(self, out: Path) -> Path:
        seed = "base" if self.seed is None else f"s{self.seed}"
        return out / "logs" / self.data / f"{self.arm}-{seed}" / f"{self.prompt}-{self.measure}"


@dataclass(frozen=True)
class EvalSettings:
    """What every eval of one experiment shares."""

    trait_items: int  # held-out lotteries (each in both orders); the EM choices ask all 12
    em_questions: int | None  # questions of the EM task (Inspect's limit; None: all)
    n_answers: int  # answers per EM question
    grader: str | None  # the EM task's grader role (None: the task's own offline default)
    dtype: str
    display: Any = "none"


def _eval(task: Any, job: Job, out: Path, settings: EvalSettings, **kwargs: Any) -> Path:
    """Run one eval; the path of its log (a failed eval raises)."""
    from inspect_ai import eval as inspect_eval

    logs = inspect_eval(
        task,
        model=job.model,
        model_args={"dtype": settings.dtype, "seed": 0},
        log_dir=str(job.log_dir(out)),
        display=settings.display,
        **kwargs,
    )
    log = logs[0]
    if log.status != "success":
        error = log.error.message.splitlines()[0][:200] if log.error else log.status
        raise UserInputError(
            f"{job.key}: the eval did not finish ({error}): rerun the same command to retry "
            "it (finished measurements are kept)"
        )
    return Path(log.location)


def _choice_row(log: Path) -> dict[str, Any]:
    """A choice-style log as a row: per-question values, their mean and interval."""
    from honesty_evals.common.measurement import read_choice_metric

    measured = read_choice_metric(log)
    per_question = dict(measured.per_question or {})
    row: dict[str, Any] = {
        "per_question": per_question,
        "n": len(per_question),
        "n_samples": measured.n_samples,
        "n_excluded": measured.n_excluded,
        "note": measured.note,
    }
    if per_question:
        interval = mean_interval(list(per_question.values()), bounds=PROBABILITY)
        row.update(value=interval.estimate, ci_low=interval.low, ci_high=interval.high)
    else:
        row.update(value=None, ci_low=None, ci_high=None)
    return row


def trait_task(job: Job, settings: EvalSettings) -> Any:
    from honesty_evals.organisms.shipped import ADVICE_HELDOUT_FILE
    from honesty_evals.paths import shipped_datasets_dir
    from honesty_evals.risk_behavior import risk_behavior

    if job.data == "lotteries":
        return risk_behavior(
            formats="lottery", n_items=settings.trait_items, system_prompt=job.system_prompt
        )
    return risk_behavior(
        formats="user",
        data=str(shipped_datasets_dir() / ADVICE_HELDOUT_FILE),
        system_prompt=job.system_prompt,
    )


def misaligned_rate(job: Job, out: Path, settings: EvalSettings) -> dict[str, Any]:
    """The EM task's `misaligned_rate` (and its interval, where the log gives one as
    `misaligned_rate_ci_low` / `_ci_high`) for the job's model and prompt."""
    from inspect_ai.log import read_eval_log

    task_args: dict[str, Any] = {
        "system_prompt": job.system_prompt,
        "n_answers": settings.n_answers,
    }
    roles = {"grader": settings.grader} if settings.grader else None
    path = _eval(
        EM_TASK, job, out, settings, task_args=task_args, model_roles=roles,
        limit=settings.em_questions,
    )  # fmt: skip
    log = read_eval_log(str(path))
    return metric_row(log, EM_METRIC) | {"log": str(path)}


def metric_row(log: Any, name: str) -> dict[str, Any]:
    """Metric `name` of an eval log as a row (value None, with a note, when absent)."""
    scores = log.results.scores if log.results else []
    for score in scores:
        metrics = score.metrics
        if name in metrics:
            low, high = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
            return {
                "value": float(metrics[name].value),
                "ci_low": None if low is None else float(low.value),
                "ci_high": None if high is None else float(high.value),
                "n": int(score.scored_samples or 0),
                "per_question": None,
                "note": None,
            }
    return {
        "value": None,
        "ci_low": None,
        "ci_high": None,
        "n": 0,
        "per_question": None,
        "note": f"the log has no metric '{name}'",
    }


def measure(job: Job, out: Path, settings: EvalSettings) -> dict[str, Any]:
    """Run the job's eval; its results row (the job's fields and what was measured)."""
    if job.measure == "misaligned_rate":
        measured = misaligned_rate(job, out, settings)
    else:
        if job.measure == "trait":
            task = trait_task(job, settings)
        else:
            from honesty_evals.inoculation.capability import answer_format_task

            task = answer_format_task(settings.trait_items, job.system_prompt)
        log = _eval(task, job, out, settings)
        measured = _choice_row(log) | {"log": str(log)}
    return job_fields(job) | measured


def job_fields(job: Job) -> dict[str, Any]:
    return {
        "key": job.key,
        "data": job.data,
        "arm": job.arm,
        "seed": job.seed,
        "prompt": job.prompt,
        "measure": job.measure,
        "system_prompt": job.system_prompt,
        "model": job.model,
    }
