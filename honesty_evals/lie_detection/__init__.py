from honesty_evals.lie_detection.task import lie_detection

__all__ = ["lie_detection"]
