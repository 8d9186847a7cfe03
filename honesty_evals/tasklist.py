"""The list of task folders: adding a task is its folder plus one line here.

Kept apart from `_registry` (which imports every task to register it with Inspect) so the
command line can name the tasks without importing them: building the parser stays instant.
A task's name is its folder's name (tests/registry/test_task_registry.py checks it).
"""

from __future__ import annotations

# one line per task: the package whose `describe.py` holds its TaskInfo
TASK_PACKAGES: tuple[str, ...] = (
    "honesty_evals.backdoor_awareness",
    "honesty_evals.risk_behavior",
    "honesty_evals.trigger_recognition",
    "honesty_evals.trigger_elicitation",
    "honesty_evals.lie_detection",
    "honesty_evals.risk_self_report",
    "honesty_evals.confession",
    "honesty_evals.emergent_misalignment",
)


def listed_task_names() -> tuple[str, ...]:
    """Every listed task's name, without importing any task."""
    return tuple(package.rsplit(".", 1)[1] for package in TASK_PACKAGES)
