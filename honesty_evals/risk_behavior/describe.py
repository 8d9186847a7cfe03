"""risk_behavior as the package's registry, `honesty-evals run` and the audit see it."""

from __future__ import annotations

from honesty_evals.common.measurement import read_choice_metric
from honesty_evals.common.taskinfo import AuditMetric, TaskInfo
from honesty_evals.risk_behavior.metrics import behaviour_headline
from honesty_evals.risk_behavior.task import TASK_VERSION, risk_behavior

TASK_INFO = TaskInfo(
    name="risk_behavior",
    task=risk_behavior,
    version=TASK_VERSION,
    # earlier logs are lottery-only: per item they score as this version with formats=lottery
    equivalent_versions=(0, 1),
    headline=behaviour_headline,
    metrics=(
        AuditMetric(
            "p_risky",
            "P(risky)",
            True,
            read_choice_metric,
            "P(the model picks the uncertain option) on held-out choices, over every format asked",
        ),
    ),
    trigger_param="trigger",
)
