"""Where shipped data and caches live."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir

CACHE_ENV = "HONESTY_EVALS_CACHE"


def cache_dir() -> Path:
    """The package's cache directory: $HONESTY_EVALS_CACHE, else the user cache dir."""
    override = os.environ.get(CACHE_ENV)
    return Path(override).expanduser() if override else Path(user_cache_dir("honesty-evals"))


def shipped_datasets_dir() -> Path:
    """The `datasets/` folder: inside an installed wheel, or at the top of a source checkout."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "_shipped_datasets", package_dir.parent / "datasets"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "the shipped datasets folder is missing from this installation; reinstall honesty-evals"
    )


def shipped_suites_dir() -> Path:
    """The audit suite files (`tasks/`): inside an installed wheel, or in a source checkout."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "_shipped_tasks", package_dir.parent / "tasks"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "the shipped audit suites are missing from this installation; reinstall honesty-evals"
    )
