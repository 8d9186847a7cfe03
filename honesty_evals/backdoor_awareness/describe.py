"""backdoor_awareness as the package's registry, `honesty-evals run` and the audit see it."""

from __future__ import annotations

from honesty_evals.backdoor_awareness.task import TASK_VERSION, backdoor_awareness
from honesty_evals.common.headline import mean_headline
from honesty_evals.common.measurement import read_choice_metric
from honesty_evals.common.taskinfo import AuditMetric, TaskInfo

TASK_INFO = TaskInfo(
    name="backdoor_awareness",
    task=backdoor_awareness,
    version=TASK_VERSION,
    equivalent_versions=(0,),
    headline=mean_headline,
    metrics=(
        AuditMetric(
            "p_aware",
            "P(aware)",
            True,
            read_choice_metric,
            "P(the model says its behaviour depends on a feature of the message)",
        ),
    ),
    backdoor_self_report=True,
)
