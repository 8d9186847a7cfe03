"""Inspect entry point: importing this registers every task and the `local` model provider."""

from honesty_evals.backdoor_awareness import backdoor_awareness
from honesty_evals.confession import confession
from honesty_evals.lie_detection import lie_detection
from honesty_evals.model.provider import local
from honesty_evals.risk_behavior import risk_behavior
from honesty_evals.risk_self_report import risk_self_report
from honesty_evals.trigger_elicitation import trigger_elicitation
from honesty_evals.trigger_recognition import trigger_recognition

__all__ = [
    "backdoor_awareness",
    "confession",
    "lie_detection",
    "local",
    "risk_behavior",
    "risk_self_report",
    "trigger_elicitation",
    "trigger_recognition",
]
