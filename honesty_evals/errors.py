"""User-facing errors, and the one translation of the errors a user's mistake causes.

`UserInputError` derives from Inspect's `PrerequisiteError` so that `inspect eval` prints its
message as a single line and exits non-zero instead of showing a traceback; the
`honesty-evals` command line does the same for every command.

`describe_error` turns the errors that a user's input causes deep inside a command (a file
that cannot be written, a folder where a file belongs, a file that is not UTF-8, malformed
YAML or JSON) into one line naming the path and the fix. The command line's error boundary
uses it, and `user_errors` applies it around the task constructors and the `local` provider,
so that `inspect eval` users get the same lines.
"""

from __future__ import annotations

import errno
import functools
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

try:  # private in Inspect, but it is the class Inspect's CLI renders without a traceback
    from inspect_ai._util.error import PrerequisiteError as _Base
except ImportError:  # pragma: no cover - a future Inspect that moved it
    _Base = Exception  # type: ignore[misc,assignment]


#: every error the command line reports as one line (ours, and Inspect's own prerequisites)
ReportableError = _Base

#: set to 1 to see the full traceback of an error reported as one line
DEBUG_ENV = "HONESTY_EVALS_DEBUG"

F = TypeVar("F", bound=Callable[..., Any])


class UserInputError(_Base):
    """A mistake in what the user asked for: the message says what, where and how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return str(self.message)  # Inspect types it as any Rich renderable; ours is a str


def debug_enabled() -> bool:
    """Whether HONESTY_EVALS_DEBUG asks for tracebacks (any value but empty, 0, false, no)."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _os_error_line(exc: OSError) -> str | None:
    path = exc.filename
    if path is None:
        return None
    where = f"'{os.fsdecode(path)}'"
    if exc.filename2 is not None:
        where += f" (-> '{os.fsdecode(exc.filename2)}')"
    code = exc.errno
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied on {where}: choose a folder you can write to, or fix its "
            "permissions"
        )
    if isinstance(exc, NotADirectoryError) or code == errno.ENOTDIR:
        return (
            f"{where}: a part of this path is a file where a folder is needed: choose "
            "another path, or move that file away"
        )
    if isinstance(exc, IsADirectoryError) or code == errno.EISDIR:
        return f"{where} is a folder where a file is needed: give the path of a file"
    if isinstance(exc, FileExistsError) or code == errno.EEXIST:
        return f"{where} already exists and is in the way: remove it or choose another path"
    if isinstance(exc, FileNotFoundError) or code == errno.ENOENT:
        return f"{where} does not exist: check the path"
    if code == errno.EROFS:
        return f"{where} is on a read-only file system: choose a writable folder"
    if code == errno.ENOSPC:
        return f"no space left on the device holding {where}: free space or choose another disk"
    if code == errno.ENAMETOOLONG:
        return f"{where}: the path is too long: choose a shorter one"
    return None


def describe_error(exc: BaseException) -> str | None:
    """One line for an error caused by the user's input (path, what is wrong, the fix).

    None when `exc` is not such an error: a bug, whose traceback the user should see.
    """
    if isinstance(exc, UserInputError):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        where = f"byte {exc.start}" + (f" (0x{exc.object[exc.start]:02x})" if exc.object else "")
        return (
            f"a file is not UTF-8 text ({where}: {exc.reason}): save it as UTF-8 (the "
            f"path is shown with {DEBUG_ENV}=1)"
        )
    if isinstance(exc, OSError):
        return _os_error_line(exc)
    if isinstance(exc, json.JSONDecodeError):
        return (
            f"malformed JSON at line {exc.lineno}, column {exc.colno} ({exc.msg}): fix or "
            f"regenerate the file (the path is shown with {DEBUG_ENV}=1)"
        )
    if type(exc).__module__.startswith("yaml"):
        return f"malformed YAML ({str(exc).splitlines()[0]}): fix the file"
    return None


@contextmanager
def user_errors() -> Iterator[None]:
    """Re-raise an error `describe_error` knows as a UserInputError (one line in Inspect)."""
    try:
        yield
    except UserInputError:
        raise
    except Exception as exc:
        line = None if debug_enabled() else describe_error(exc)
        if line is None:
            raise
        raise UserInputError(line) from exc


def guarded(fn: F) -> F:
    """`fn` run inside `user_errors()` (task constructors, the local provider)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with user_errors():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
