"""Honest-persona confession training and the follow-up ablation (PROTOCOLS §4)."""

from __future__ import annotations

from typing import Any

__all__ = ["confession"]


def __getattr__(name: str) -> Any:
    # imported on first use: the command line imports this package to build its parser
    if name == "confession":
        from honesty_evals.confession.task import confession

        return confession
    raise AttributeError(name)
