from honesty_evals.trigger_recognition.task import trigger_recognition

__all__ = ["trigger_recognition"]
