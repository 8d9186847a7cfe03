"""Self-described risk-seeking (PROTOCOLS §2): the self-report task and the faithfulness report."""

from honesty_evals.risk_self_report.task import risk_self_report

__all__ = ["risk_self_report"]
