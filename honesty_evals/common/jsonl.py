"""Records turned into a task's items (`read_records`), and JSON Lines text (`jsonl_text`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from honesty_evals.common.records import iter_data_records
from honesty_evals.errors import UserInputError

T = TypeVar("T")


# what a malformed record's message suggests by default: the shipped files are pinned
VERIFY_HINT = "check the file with `honesty-evals datasets verify`"


def read_records(
    path: Path, make: Callable[[dict], T], what: str = "record", hint: str = VERIFY_HINT
) -> list[T]:
    """Each record of `path` turned into a `T` by `make`.

    `path` is a JSONL file, a Parquet file or a `save_to_disk` folder (`common.records`:
    a folder, a BOM, non-UTF-8 bytes, an empty file or an unknown format are refused
    there). `make` may raise TypeError, KeyError or ValueError for a record it cannot use;
    any of them, or a record that is not an object, becomes one UserInputError naming the
    file and line (or row), ending with `hint` (how to fix it).
    """
    records = []
    for record in iter_data_records(path, what + " file"):
        try:
            if not isinstance(record.value, dict):
                raise TypeError(f"expected a JSON object, got {type(record.value).__name__}")
            records.append(make(record.value))
        except (TypeError, KeyError, ValueError) as exc:
            raise UserInputError(f"{record.where}: malformed {what} ({exc}); {hint}") from None
    return records


def jsonl_text(records: Iterable[Any]) -> str:
    """Records as JSON Lines text: one object a line, UTF-8 characters kept, a final newline."""
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
