"""The settings file of a resumable experiment (`DIR/experiment.json`).

An experiment that trains and evaluates in stages keeps its settings in its folder, so a
rerun resumes only work done with the same settings: other settings into the same folder
are refused in one line naming each difference. Used by `faithfulness experiment` and
`inoculation experiment`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.errors import UserInputError

SETTINGS_FILE = "experiment.json"


def open_state(
    out: Path,
    settings: dict[str, Any],
    upgrade: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Load `out/experiment.json`, refusing other settings; create it (and `out`) if new.

    `upgrade` edits the saved settings in place before the comparison (a setting whose
    meaning was renamed since an older run wrote the file).
    """
    path = out / SETTINGS_FILE
    if path.is_file():
        try:
            saved = json.loads(path.read_text())
        except ValueError:
            raise UserInputError(
                f"{path} is not valid JSON: remove it or use another --out"
            ) from None
        old = saved.get("settings", {})
        if upgrade is not None:
            upgrade(old)
        changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
        if changed:
            diffs = ", ".join(f"{k}: {old.get(k)!r} -> {settings.get(k)!r}" for k in changed)
            raise UserInputError(
                f"{out} holds an experiment with other settings ({diffs}): rerun with the "
                "same settings to resume it, or choose another --out"
            )
        return dict(saved)
    state: dict[str, Any] = {"settings": settings, "timings_seconds": {}, "runs": []}
    out.mkdir(parents=True, exist_ok=True)
    save_state(out, state)
    return state


def save_state(out: Path, state: dict[str, Any]) -> None:
    write_text_atomic(out / SETTINGS_FILE, json.dumps(state, indent=2) + "\n")
