"""Lie detection (PROTOCOLS §3): the collection task, black-box detector and white-box probe."""

from __future__ import annotations

from typing import Any

__all__ = ["lie_detection"]


def __getattr__(name: str) -> Any:
    # imported on first use, so `python -m honesty_evals.lie_detection.qa` does not load the
    # module it runs as a side effect of importing this package, and the modules the
    # confession data builds on (`qa`, `answers`, `prompts`; on the command line's parser
    # path through `confession.ablation`) load without the task, numpy and scikit-learn
    if name == "lie_detection":
        from honesty_evals.lie_detection.task import lie_detection

        return lie_detection
    raise AttributeError(name)
