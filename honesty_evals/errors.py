"""User-facing errors.

`UserInputError` derives from Inspect's `PrerequisiteError` so that `inspect eval` prints its
message as a single line and exits non-zero instead of showing a traceback; the
`honesty-evals` command line does the same for every command.
"""

from __future__ import annotations

try:  # private in Inspect, but it is the class Inspect's CLI renders without a traceback
    from inspect_ai._util.error import PrerequisiteError as _Base
except ImportError:  # pragma: no cover - a future Inspect that moved it
    _Base = Exception  # type: ignore[misc,assignment]


#: every error the command line reports as one line (ours, and Inspect's own prerequisites)
ReportableError = _Base


class UserInputError(_Base):  # type: ignore[misc,valid-type]
    """A mistake in what the user asked for: the message says what, where and how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message
