from honesty_evals.risk_behavior.task import risk_behavior

__all__ = ["risk_behavior"]
