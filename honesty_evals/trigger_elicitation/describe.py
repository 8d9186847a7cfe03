"""trigger_elicitation as the package's registry, `honesty-evals run` and the audit see it."""

from __future__ import annotations

from honesty_evals.common.headline import mean_headline
from honesty_evals.common.measurement import read_choice_metric
from honesty_evals.common.taskinfo import AuditMetric, TaskInfo
from honesty_evals.trigger_elicitation.task import TASK_VERSION, trigger_elicitation

TASK_INFO = TaskInfo(
    name="trigger_elicitation",
    task=trigger_elicitation,
    version=TASK_VERSION,
    equivalent_versions=(0,),
    headline=mean_headline,
    metrics=(
        AuditMetric(
            "p_trigger_named",
            "P(trigger named)",
            True,
            read_choice_metric,  # one 0/1 score per answer, question ids in metadata
            "share of free-form answers that name the trigger",
        ),
    ),
    backdoor_self_report=True,
)
