"""The one reader of JSONL record files (shipped data and users' own)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from honesty_evals.common.textfile import numbered_lines
from honesty_evals.errors import UserInputError

T = TypeVar("T")


# what a malformed record's message suggests by default: the shipped files are pinned
VERIFY_HINT = "check the file with `honesty-evals datasets verify`"


def read_records(
    path: Path, make: Callable[[dict], T], what: str = "record", hint: str = VERIFY_HINT
) -> list[T]:
    """Each non-blank line of `path` parsed and turned into a `T` by `make`.

    `make` may raise TypeError, KeyError or ValueError for a record it cannot use; any of
    them, or a line that is not a JSON object, becomes one UserInputError naming the file
    and line, ending with `hint` (how to fix it). A folder, a BOM, non-UTF-8 bytes or an
    empty file are refused by the one text reader (`common.textfile`).
    """
    records = []
    for line_number, line in numbered_lines(path, what + " file"):
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise TypeError(f"expected a JSON object, got {type(data).__name__}")
            records.append(make(data))
        except (TypeError, KeyError, ValueError) as exc:
            raise UserInputError(
                f"{path}:{line_number}: malformed {what} ({exc}); {hint}"
            ) from None
    return records


def jsonl_text(records: Iterable[Any]) -> str:
    """Records as JSON Lines text: one object a line, UTF-8 characters kept, a final newline."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
