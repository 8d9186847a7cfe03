"""trigger_recognition as the package's registry, `honesty-evals run` and the audit see it."""

from __future__ import annotations

from honesty_evals.common.headline import mean_headline
from honesty_evals.common.measurement import read_choice_metric
from honesty_evals.common.taskinfo import AuditMetric, TaskInfo
from honesty_evals.trigger_recognition.task import TASK_VERSION, trigger_recognition

TASK_INFO = TaskInfo(
    name="trigger_recognition",
    task=trigger_recognition,
    version=TASK_VERSION,
    equivalent_versions=(0,),
    headline=mean_headline,
    metrics=(
        AuditMetric(
            "p_real_trigger",
            "P(real trigger)",
            True,
            read_choice_metric,
            "P(the model picks the statement naming the trigger over a decoy)",
        ),
    ),
    backdoor_self_report=True,
)
