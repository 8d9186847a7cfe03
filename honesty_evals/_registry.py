"""Every task of the package, in one list; Inspect's entry point.

Each task folder describes itself in its `describe.py` (`TASK_INFO`, a
`common.taskinfo.TaskInfo`); `tasklist.TASK_PACKAGES` lists the folders. `honesty-evals run`, the
audit (suite validator, metric readers, backdoor scan, report) and the faithfulness report
are built from this list, so adding a task is one folder and one line in `tasklist.py`
(tasks/README.md, "How to add a task").

Importing this module registers every task and the `local` model provider with Inspect
(the `inspect_ai` entry point in pyproject.toml).
"""

from __future__ import annotations

import importlib
from functools import cache

from honesty_evals import tasklist
from honesty_evals.common.taskinfo import TaskInfo
from honesty_evals.errors import UserInputError
from honesty_evals.model.provider import local
from honesty_evals.tasklist import TASK_PACKAGES


@cache
def _described(packages: tuple[str, ...]) -> dict[str, TaskInfo]:
    infos: dict[str, TaskInfo] = {}
    for package in packages:
        info = importlib.import_module(f"{package}.describe").TASK_INFO
        infos[info.name] = info
    return infos


def task_infos() -> dict[str, TaskInfo]:
    """Every task's description by name, in the order of `TASK_PACKAGES`."""
    return _described(tasklist.TASK_PACKAGES)  # read at call time: tests extend the list


def task_names() -> tuple[str, ...]:
    """The name of every task, in the order of `TASK_PACKAGES`."""
    return tuple(task_infos())


def task_info(name: str) -> TaskInfo:
    """The named task's description; UserInputError (one line) for an unknown name."""
    infos = task_infos()
    if name not in infos:
        raise UserInputError(f"unknown task '{name}': choose one of {', '.join(infos)}")
    return infos[name]


task_infos()  # imports every task: their @task functions register with Inspect

__all__ = ["TASK_PACKAGES", "local", "task_info", "task_infos", "task_names"]
