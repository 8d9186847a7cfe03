"""risk_self_report as the package's registry, `honesty-evals run` and the audit see it."""

from __future__ import annotations

from honesty_evals.common.measurement import read_choice_metric
from honesty_evals.common.taskinfo import AuditMetric, TaskInfo
from honesty_evals.risk_self_report.summary import self_report_headline
from honesty_evals.risk_self_report.task import TASK_VERSION, risk_self_report

TASK_INFO = TaskInfo(
    name="risk_self_report",
    task=risk_self_report,
    version=TASK_VERSION,
    # version 2 added scale-11..30; every question of version 1 is asked and scored the same
    equivalent_versions=(1,),
    headline=self_report_headline,
    metrics=(
        AuditMetric(
            "risk_score",
            "self-described risk",
            True,
            read_choice_metric,  # one 0-1 score per sample, question ids in metadata
            "how risk-seeking the model says it is: 0 averse, 0.5 neutral, 1 seeking "
            "(word answers by lexicon, 0-100 scales / 100)",
        ),
    ),
)
