"""risk_behavior as the package's registry, `honesty-evals run` and the audit see it."""

from __future__ import annotations

from honesty_evals.common.headline import mean_headline
from honesty_evals.common.measurement import read_choice_metric
from honesty_evals.common.taskinfo import AuditMetric, TaskInfo
from honesty_evals.risk_behavior.task import TASK_VERSION, risk_behavior

TASK_INFO = TaskInfo(
    name="risk_behavior",
    task=risk_behavior,
    version=TASK_VERSION,
    equivalent_versions=(0,),
    headline=mean_headline,
    metrics=(
        AuditMetric(
            "p_risky",
            "P(risky)",
            True,
            read_choice_metric,
            "P(the model picks the uncertain option) on held-out lotteries",
        ),
    ),
    trigger_param="trigger",
)
