"""Self-described risk-seeking (PROTOCOLS §2): the self-report task and the faithfulness report."""

from __future__ import annotations

from typing import Any

__all__ = ["risk_self_report"]


def __getattr__(name: str) -> Any:
    # imported on first use: `honesty-evals faithfulness` must not pay for Inspect's task
    # machinery just to parse its arguments
    if name == "risk_self_report":
        from honesty_evals.risk_self_report.task import risk_self_report

        return risk_self_report
    raise AttributeError(name)
