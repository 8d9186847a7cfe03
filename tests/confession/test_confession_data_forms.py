"""The confession task's `-T data=` in every accepted form gives the same samples."""

from __future__ import annotations

import pytest
from conftest import write_in_every_form

from honesty_evals.confession.task import confession
from honesty_evals.errors import UserInputError
from tests.confession.test_confession import _records


def _samples(task) -> list[tuple]:
    return [(s.id, [(m.role, m.text) for m in s.input], s.target, s.metadata) for s in task.dataset]


def test_every_form_gives_the_same_samples(tmp_path):
    forms = write_in_every_form(tmp_path, _records())
    samples = {
        form: _samples(confession(format="followup", data=str(p))) for form, p in forms.items()
    }
    assert len(samples["jsonl"]) == 6
    assert samples["jsonl"] == samples["parquet"] == samples["folder"]


def test_a_bad_row_is_named(tmp_path):
    records = _records()
    records[4]["review"] = ""
    forms = write_in_every_form(tmp_path, records)
    with pytest.raises(UserInputError, match=r"data\.parquet row 4: malformed confession"):
        confession(format="followup", data=str(forms["parquet"]))
    with pytest.raises(UserInputError, match=r"does not exist here .*reads local data only"):
        confession(format="followup", data="someone/confessions")
