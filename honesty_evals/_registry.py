"""Inspect entry point: importing this registers every task and the `local` model provider."""

from honesty_evals.backdoor_awareness import backdoor_awareness
from honesty_evals.model.provider import local

__all__ = ["backdoor_awareness", "local"]
