"""Output paths checked before any work: every writing command calls one of these first, so
a path that cannot be written fails in one line before a model loads or trains, not after.

Imports nothing heavy (the command line calls these before importing torch or Inspect).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from honesty_evals.errors import UserInputError

#: says what in an existing output folder is not ours (would be overwritten), or None
ForeignCheck = Callable[[Path], "str | None"]


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(path.anchor or ".")


def _write_probe_error(folder: Path) -> str | None:
    """Why nothing can be created in `folder`, or None.

    A real write, not `os.access`: access() says yes to root on a folder root cannot write
    either (a read-only mount, sysfs), and the write is the question that matters.
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".honesty-evals-write-check.")
    except OSError as exc:
        return exc.strerror or str(exc)
    os.close(fd)
    os.unlink(tmp)
    return None


def _check_creatable(path: Path, flag: str, shown: str) -> None:
    """The folder that will hold `path` exists as a folder (or can be made) and is writable."""
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():
        raise UserInputError(
            f"{flag} '{shown}' cannot be created: '{existing}' is a file, not a folder: choose "
            "another path, or move that file away"
        )
    problem = _write_probe_error(existing)
    if problem is not None:
        raise UserInputError(
            f"{flag} '{shown}' cannot be written: nothing can be created in '{existing}' "
            f"({problem}): choose a folder you can write to"
        )


def check_output_dir(
    path: str | Path, flag: str = "--out", *, foreign: ForeignCheck | None = None
) -> Path:
    """`path` as an output folder: a folder (or nothing yet), writable, holding nothing of
    someone else's that the command would overwrite (`foreign` says what, if anything).

    Creates nothing: a command that is refused later leaves no empty folder behind.
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise UserInputError(
            f"{flag} '{path}' is a file, not a folder: choose a folder path, or move the file away"
        )
    if out.is_dir():
        problem = _write_probe_error(out)
        if problem is not None:
            raise UserInputError(
                f"{flag} '{path}' is not writable ({problem}): choose a folder you can write to"
            )
        found = foreign(out) if foreign is not None else None
        if found is not None:
            raise UserInputError(
                f"{flag} '{path}' already holds {found}: choose an empty or new folder, or "
                "move those files away"
            )
    else:
        _check_creatable(out, flag, str(path))
    return out


def check_output_file(path: str | Path, flag: str = "--out") -> Path:
    """`path` as an output file: not a folder, in a folder that exists or can be made and
    can be written (files are replaced atomically, so the folder is what must be writable)."""
    file = Path(path).expanduser()
    if file.is_dir():
        raise UserInputError(
            f"{flag} '{path}' is a folder: give the path of a file to write, e.g. "
            f"{Path(path) / 'out.json'}"
        )
    _check_creatable(file, flag, str(path))
    return file
