from honesty_evals.backdoor_awareness.task import backdoor_awareness

__all__ = ["backdoor_awareness"]
