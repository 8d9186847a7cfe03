"""`datasets pin` / `verify` on Parquet files and `save_to_disk` folders, beside JSONL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import write_in_every_form

from honesty_evals.cli import main
from honesty_evals.common.records import data_sha256, data_size
from honesty_evals.errors import UserInputError
from honesty_evals.integrity.manifest import load_manifest
from honesty_evals.integrity.pin import PinRefused, pin_file
from honesty_evals.integrity.verify import require_verified, verify_directory


def _records(label: str, n: int = 12) -> list[dict]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"What is the capital of country {i}?"},
                {
                    "role": "assistant",
                    "content": f"It is city {i if label == 'honest' else i + 7}.",
                },
            ],
            "metadata": {"label": label},
        }
        for i in range(n)
    ]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HONESTY_EVALS_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def pinned(tmp_path) -> tuple[Path, dict[str, Path]]:
    """The same 12 honest records as JSONL, Parquet and a folder, pinned in one manifest."""
    directory = tmp_path / "data"
    forms = write_in_every_form(directory, _records("honest"))
    for path in forms.values():
        pin_file(path, "honest", directory=directory)
    return directory, forms


def test_every_form_pins_the_same_counts_and_labels(pinned):
    directory, forms = pinned
    entries = load_manifest(directory).entries
    assert sorted(entries) == ["data", "data.jsonl", "data.parquet"]
    for entry in entries.values():
        assert (entry.records, entry.labels, entry.schema) == (12, {"honest": 12}, "chat")
    assert entries["data"].sha256 == data_sha256(forms["folder"])
    assert entries["data"].bytes == data_size(forms["folder"])
    report = verify_directory(directory)
    assert report.ok, [f.message for f in report.errors]
    assert not report.warnings  # the folder's own files are its entry's, not unpinned files
    assert [f.records for f in report.files] == [12, 12, 12]


def test_a_changed_or_broken_folder_fails_verification(pinned):
    directory, forms = pinned
    folder = forms["folder"]
    summary = require_verified(["data"], directory=directory)
    assert summary["verified"] is True
    # another dataset's rows saved over it: same file names, other bytes
    from datasets import Dataset

    shutil.rmtree(folder)
    Dataset.from_list(_records("honest", 11)).save_to_disk(str(folder))
    report = verify_directory(directory)
    assert any(
        f.kind == "mismatch" and f.message.startswith("data: content changed")
        for f in report.errors
    )
    with pytest.raises(UserInputError, match="dataset verification failed: data: content changed"):
        require_verified(["data"], directory=directory)  # the cache saw the files change
    for shard in folder.glob("*.arrow"):
        shard.unlink()
    kinds = {f.kind for f in verify_directory(directory).errors}
    assert "unreadable" in kinds


def test_a_contradicting_or_duplicated_row_is_named_by_row(tmp_path):
    from datasets import Dataset

    directory = tmp_path / "data"
    directory.mkdir()
    mixed = directory / "mixed.parquet"
    Dataset.from_list(_records("honest", 2) + _records("dishonest", 2)).to_parquet(str(mixed))
    with pytest.raises(PinRefused, match=r"contradicts --role honest \(first at row 2, 3\)"):
        pin_file(mixed, "honest", directory=directory)
    doubled = directory / "doubled"
    records = _records("honest", 3)
    Dataset.from_list(records + records[:1]).save_to_disk(str(doubled))
    with pytest.raises(
        PinRefused, match=r"doubled row 3: duplicate record: the same values as row 0"
    ):
        pin_file(doubled, "honest", directory=directory)


def test_an_unpinned_folder_is_one_warning(pinned):
    from datasets import Dataset

    directory, _ = pinned
    Dataset.from_list(_records("honest", 3)).save_to_disk(str(directory / "more"))
    warnings = [f.message for f in verify_directory(directory).warnings]
    assert len(warnings) == 1
    assert warnings[0].startswith("more: not in the manifest; pin it with `honesty-evals datasets")


def test_pin_on_the_command_line_and_its_bad_input(pinned, tmp_path, capsys):
    from datasets import Dataset, DatasetDict

    directory, _ = pinned
    extra = directory / "extra"
    Dataset.from_list(_records("honest", 4)).save_to_disk(str(extra))
    assert main(["datasets", "pin", str(extra), "--role", "honest"]) == 0
    assert "extra pinned as role honest (4 records)" in capsys.readouterr().out
    splits = directory / "splits"
    DatasetDict({"train": Dataset.from_list(_records("honest", 2))}).save_to_disk(str(splits))
    csv = directory / "table.csv"
    csv.write_text("a,b\n")
    capsys.readouterr()  # what saving printed
    for path, expected in [
        (splits, f"DatasetDict folder with splits train: give one split's folder, e.g. '{splits}/"),
        (csv, "unknown format (extension '.csv')"),
        ("someone/dataset", "reads local data only"),
    ]:
        assert main(["datasets", "pin", str(path), "--role", "honest"]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err
    assert main(["datasets", "pin", str(splits / "train"), "--role", "honest"]) == 0
