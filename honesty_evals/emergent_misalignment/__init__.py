from honesty_evals.emergent_misalignment.task import emergent_misalignment

__all__ = ["emergent_misalignment"]
