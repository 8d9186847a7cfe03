"""The one loader of users' records: chat JSONL, Parquet and `save_to_disk` folders."""

from __future__ import annotations

import hashlib
import json
import socket
from pathlib import Path

import pytest
from conftest import write_in_every_form

from honesty_evals.common import records as records_module
from honesty_evals.common.jsonl import read_records
from honesty_evals.common.records import (
    data_files,
    data_sha256,
    data_size,
    iter_data_records,
    plain,
)
from honesty_evals.errors import UserInputError

CHATS = [
    {
        "messages": [
            {"role": "user", "content": f"question {i}"},
            {"role": "assistant", "content": "A" if i % 2 else "B"},
        ],
        "label": "honest",
        "score": i,
    }
    for i in range(5)
]


def _read(path, *args, **kwargs) -> list:
    return list(iter_data_records(path, *args, **kwargs))


def _plain_only(value) -> bool:
    """Whether `value` is made of JSON's Python types alone (no numpy, no tuples)."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain_only(v) for v in value)
    return value is None or type(value) in (str, int, float, bool)


@pytest.fixture
def forms(tmp_path) -> dict[str, Path]:
    return write_in_every_form(tmp_path, CHATS)


def test_every_form_gives_the_same_plain_records(forms):
    for form, path in forms.items():
        records = _read(path)
        assert [r.value for r in records] == CHATS, form
        assert all(_plain_only(r.value) for r in records), form
    jsonl = _read(forms["jsonl"])
    assert [r.where for r in jsonl][:2] == [f"{forms['jsonl']}:1", f"{forms['jsonl']}:2"]
    table = _read(forms["parquet"])
    assert [r.where for r in table][:2] == [
        f"{forms['parquet']} row 0",
        f"{forms['parquet']} row 1",
    ]
    # the readers of task items take every form too
    for path in forms.values():
        assert read_records(path, lambda r: r["score"], "item") == [0, 1, 2, 3, 4]


def test_a_folder_saved_in_numpy_format_still_gives_plain_rows(tmp_path):
    from datasets import Dataset

    folder = tmp_path / "np"
    Dataset.from_list(CHATS).with_format("numpy").save_to_disk(str(folder))
    values = [r.value for r in _read(folder)]
    assert values == CHATS and all(_plain_only(v) for v in values)


def test_plain_converts_what_pandas_returns_for_a_messages_column(forms):
    import pandas as pd

    rows = pd.read_parquet(forms["parquet"]).to_dict("records")
    assert type(rows[0]["messages"]).__name__ == "ndarray"  # what a Parquet reader returns
    assert not _plain_only(rows[0])
    converted = [plain(row) for row in rows]
    assert converted == CHATS and all(_plain_only(row) for row in converted)


def test_rows_are_converted_before_anyone_reads_them(forms, monkeypatch):
    """A table whose rows come back as pandas gives them (numpy arrays of dicts) is read
    the same as the JSONL: without the conversion a `messages` array is no list."""
    import pandas as pd

    class PandasRows:
        column_names = list(CHATS[0])

        def to_list(self):
            return pd.read_parquet(forms["parquet"]).to_dict("records")

    monkeypatch.setattr(records_module, "_load_table", lambda path, form: PandasRows())
    values = [r.value for r in _read(forms["parquet"])]
    assert values == CHATS and all(_plain_only(v) for v in values)


def test_nothing_reaches_the_network(forms, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a data loader opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for form in ("parquet", "folder"):
        assert len(_read(forms[form])) == len(CHATS)


def test_reading_a_parquet_file_leaves_no_cache_behind(forms, tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "hf" / "datasets"))
    before = set(tmp_path.rglob("*"))
    _read(forms["parquet"])
    assert set(tmp_path.rglob("*")) == before


def test_the_offline_flag_is_set_while_reading_and_restored(forms, monkeypatch):
    import datasets

    seen = []
    real = datasets.Dataset.load_from_disk

    def spy(*args, **kwargs):
        seen.append(datasets.config.HF_HUB_OFFLINE)
        return real(*args, **kwargs)

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(datasets.Dataset, "load_from_disk", spy)
    _read(forms["folder"])
    assert seen == [True] and datasets.config.HF_HUB_OFFLINE is False


def _one_line(path, match: str, **kwargs) -> str:
    with pytest.raises(UserInputError, match=match) as info:
        _read(path, "--data", **kwargs)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_bad_input_is_one_line_each(tmp_path, forms, caplog):
    from datasets import Dataset, DatasetDict

    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n1,2\n")
    assert ".jsonl" in _one_line(csv, r"unknown format \(extension '\.csv'\)")
    garbage = tmp_path / "broken.parquet"
    garbage.write_bytes(b"PAR1 this is not parquet at all")
    _one_line(garbage, r"broken\.parquet' is not a readable parquet \(.+\): write it again")
    assert not caplog.records  # `datasets` logs nothing beside the one line
    # a half-copied folder: its Arrow shard is missing
    broken = tmp_path / "half"
    Dataset.from_list(CHATS).save_to_disk(str(broken))
    for shard in broken.glob("*.arrow"):
        shard.unlink()
    _one_line(broken, r"is not a readable datasets folder .*save it again")
    prompts = tmp_path / "prompts.parquet"
    Dataset.from_list([{"prompt": "hi", "answer": "A"}]).to_parquet(str(prompts))
    _one_line(
        prompts,
        r"has no 'messages' column \(its columns: prompt, answer\): chat records need",
        columns=("messages",),
    )
    empty = tmp_path / "empty"
    Dataset.from_list(CHATS).select([]).save_to_disk(str(empty))
    _one_line(empty, r"'.*empty' holds no records")
    empty_parquet = tmp_path / "empty.parquet"
    Dataset.from_list(CHATS).select([]).to_parquet(str(empty_parquet))
    _one_line(empty_parquet, r"empty\.parquet' holds no records")
    splits = tmp_path / "splits"
    DatasetDict({"train": Dataset.from_list(CHATS), "test": Dataset.from_list(CHATS)}).save_to_disk(
        str(splits)
    )
    _one_line(splits, rf"DatasetDict folder with splits train, test: .* e\.g\. '{splits}/train'")
    assert len(_read(splits / "train")) == len(CHATS)  # the way it names
    plain_folder = tmp_path / "plain"
    plain_folder.mkdir()
    _one_line(plain_folder, r"is a folder, not a file nor a Hugging Face `datasets` folder")
    for hub in ("someone/risky-choices", "squad"):
        _one_line(hub, r"does not exist here .*reads local data only .*save_to_disk\(DIR\)")
    _one_line("hf://datasets/someone/x", r"is not a local path, .*never downloads")
    _one_line(tmp_path / "missing.parquet", r"missing\.parquet' does not exist: check the path")


def test_a_folder_digest_is_its_sha256sum_listing(forms):
    folder = forms["folder"]
    listing = "".join(
        f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.relative_to(folder).as_posix()}\n"
        for f in sorted(p for p in folder.rglob("*") if p.is_file())
    )
    assert data_sha256(folder) == hashlib.sha256(listing.encode()).hexdigest()
    assert data_size(folder) == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert (
        data_sha256(forms["parquet"]) == hashlib.sha256(forms["parquet"].read_bytes()).hexdigest()
    )
    before = data_sha256(folder)
    info = folder / "dataset_info.json"
    info.write_text(json.dumps({**json.loads(info.read_text()), "description": "changed"}))
    assert data_sha256(folder) != before


def test_a_link_out_of_a_folder_is_refused(forms, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("elsewhere")
    (forms["folder"] / "extra.txt").symlink_to(outside)
    with pytest.raises(UserInputError, match=r"extra\.txt is a symbolic link to .* outside"):
        data_files(forms["folder"])


def test_the_documented_shell_command_gives_the_folder_digest(forms):
    import subprocess

    command = "find . -type f | sed 's|^\\./||' | LC_ALL=C sort | xargs sha256sum | sha256sum"
    result = subprocess.run(
        ["bash", "-c", command], cwd=forms["folder"], capture_output=True, text=True, check=True
    )
    assert result.stdout.split()[0] == data_sha256(forms["folder"])


def test_the_readers_import_no_table_library_until_a_table_is_read():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import honesty_evals.common.jsonl, honesty_evals.training.data\n"
        "import honesty_evals.integrity.verify, honesty_evals.integrity.pin\n"
        "print(sorted(m for m in ('datasets', 'pyarrow', 'pandas') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
