"""The shared record reader (`read_records`) on JSONL; other forms: test_records.py."""

from __future__ import annotations

import pytest

from honesty_evals.common.jsonl import read_records
from honesty_evals.errors import UserInputError


def test_reads_records_and_skips_blank_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n')
    assert read_records(path, lambda r: r["a"]) == [1, 2]


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"a": 1}\n{"a": \n', r"r.jsonl:2: not valid JSON \(Expecting value at column"),
        ('{"a": 1}\n[1, 2]\n', r"r.jsonl:2: malformed item \(expected a JSON object, got list"),
        ('{"a": 1}\n{"b": 1}\n', r"r.jsonl:2: malformed item \('a'\)"),
        ('{"a": -1}\n', r"r.jsonl:1: malformed item \(negative\)"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, text, expected):
    path = tmp_path / "r.jsonl"
    path.write_text(text)

    def make(record: dict) -> int:
        if record["a"] < 0:
            raise ValueError("negative")
        return record["a"]

    with pytest.raises(UserInputError, match=expected):
        read_records(path, make, "item")
