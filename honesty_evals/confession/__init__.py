"""Honest-persona confession training and the follow-up ablation (PROTOCOLS §4)."""

from __future__ import annotations

from typing import Any

__all__ = ["confession"]


def __getattr__(name: str) -> Any:
    # imported on first use: building the command line's parser reads the ablation's
    # defaults from `confession.ablation`, and an eager import here would load numpy and
    # the task's modules into every `honesty-evals` start
    if name == "confession":
        from honesty_evals.confession.task import confession

        return confession
    raise AttributeError(name)
