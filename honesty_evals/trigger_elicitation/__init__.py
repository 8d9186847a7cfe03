from honesty_evals.trigger_elicitation.task import trigger_elicitation

__all__ = ["trigger_elicitation"]
