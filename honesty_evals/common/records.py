"""The one loader of users' record data, in the forms researchers keep it.

Three forms are accepted wherever a command reads records (the trainer's `--data`, a task's
`-T data=`, `datasets pin` / `verify`):

- OpenAI chat JSONL (`.jsonl`, `.ndjson`): one JSON object a line, read by the one text
  reader (`common.textfile`), so an error names the line (`PATH:LINE`);
- Parquet (`.parquet`): read through the `datasets` library;
- a Hugging Face `datasets` folder written by `Dataset.save_to_disk` (it holds `state.json`
  and `dataset_info.json`), read through `datasets`. A `DatasetDict` folder is refused with
  its split names: give one split's folder (`PATH/train`), which is where `save_to_disk`
  writes that split.

A table's errors name the row (`PATH row N`, counted from 0 as `dataset[N]` counts it).
Rows become plain Python values (lists, dicts, numbers, strings), never numpy arrays, so
the same records give the same results in every form.

Everything stays offline: only local paths are read, a name that is not one (a hub name
like `user/dataset`, a URL) is refused, and `datasets` runs with its offline flag set while
it reads. `datasets` (and with it pyarrow and numpy) is imported only when a table is
read, so importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honesty_evals.common.textfile import check_input_file, numbered_lines
from honesty_evals.errors import UserInputError

JSONL_SUFFIXES = (".jsonl", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
JSONL, PARQUET, FOLDER = "jsonl", "parquet", "datasets folder"
#: what the error lines offer instead of a refused input
ACCEPTED_FORMS = (
    "a chat JSONL file (.jsonl), a Parquet file (.parquet) or a Hugging Face `datasets` "
    "folder written by `save_to_disk`"
)
# files `Dataset.save_to_disk` writes beside its Arrow shards, and `DatasetDict`'s index
SAVED_DATASET_FILES = ("state.json", "dataset_info.json")
DATASET_DICT_FILE = "dataset_dict.json"
# `user/dataset` or `dataset` with no extension: how a hub name looks
_HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


@dataclass(frozen=True)
class DataRecord:
    """One record and where it came from."""

    where: str  # what an error names: "PATH:LINE" (JSONL) or "PATH row N" (a table)
    number: int  # the line (from 1) or the row (from 0)
    value: Any  # plain Python: a dict for a table row, any JSON value for a JSONL line


def _remote_refusal(shown: str, what: str, lead: str) -> UserInputError:
    return UserInputError(
        f"{what} '{shown}' {lead}, and honesty-evals reads local data only (it never "
        "downloads): for a Hugging Face hub dataset, save it on a machine with network "
        f"(`datasets.load_dataset(NAME, split='train').save_to_disk(DIR)`) and give DIR"
    )


def is_saved_dataset(folder: Path) -> bool:
    """Whether `folder` is one `Dataset.save_to_disk` wrote."""
    return all((folder / name).is_file() for name in SAVED_DATASET_FILES)


def _dataset_dict_splits(folder: Path) -> list[str]:
    try:
        splits = json.loads((folder / DATASET_DICT_FILE).read_text(encoding="utf-8"))["splits"]
        if isinstance(splits, list) and all(isinstance(s, str) for s in splits):
            return splits
    except (OSError, ValueError, TypeError, KeyError):
        pass  # a damaged index: name the split folders instead
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and is_saved_dataset(p))


def _check_folder(folder: Path, shown: str, what: str) -> None:
    if is_saved_dataset(folder):
        return
    if (folder / DATASET_DICT_FILE).is_file():
        splits = _dataset_dict_splits(folder)
        example = f"{shown.rstrip('/')}/{splits[0] if splits else 'train'}"
        raise UserInputError(
            f"{what} '{shown}' is a DatasetDict folder with splits "
            f"{', '.join(splits) or '(none found)'}: give one split's folder, e.g. '{example}'"
        )
    raise UserInputError(
        f"{what} '{shown}' is a folder, not a file nor a Hugging Face `datasets` folder (no "
        f"{' and '.join(SAVED_DATASET_FILES)}, which `save_to_disk` writes): give "
        f"{ACCEPTED_FORMS}"
    )


def data_form(path: str | Path, what: str = "data") -> tuple[Path, str]:
    """(the local path, its form: `JSONL`, `PARQUET` or `FOLDER`); anything else is one line.

    `what` names the input as the user knows it (`--data`, "file to pin", ...).
    """
    shown = str(path)
    if "://" in shown or shown.startswith(("hf:", "hub:")):
        raise _remote_refusal(shown, what, "is not a local path")
    local = Path(shown).expanduser()
    suffix = local.suffix.lower()
    if not local.exists() and not local.is_symlink():
        if suffix not in JSONL_SUFFIXES + PARQUET_SUFFIXES and _HUB_NAME.fullmatch(shown):
            raise _remote_refusal(shown, what, "does not exist here (check the path)")
        check_input_file(local, what)  # the one "does not exist" line
    if local.is_dir():
        _check_folder(local, shown, what)
        return local, FOLDER
    check_input_file(local, what)  # a regular, readable file
    if suffix in JSONL_SUFFIXES:
        return local, JSONL
    if suffix in PARQUET_SUFFIXES:
        return local, PARQUET
    raise UserInputError(
        f"{what} '{shown}' has an unknown format (extension '{suffix or 'none'}'): give "
        f"{ACCEPTED_FORMS}; a JSONL file must end in .jsonl"
    )


def plain(value: Any) -> Any:
    """A row value as plain Python: numpy arrays and tuples as lists, numpy scalars as
    numbers, mappings as dicts (Parquet readers return a `messages` column as numpy
    arrays of dicts, which no JSON check or `json.dumps` accepts)."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, (str, bytes)):
        return value
    tolist = getattr(value, "tolist", None)  # numpy arrays and scalars, without numpy
    return plain(tolist()) if callable(tolist) else value


def _library(name: str) -> Any:
    """A module of `datasets` or pyarrow, imported when first needed. By name, because to
    a type checker run in the repository `datasets` is the data folder of that name."""
    return importlib.import_module(name)


@contextmanager
def _offline_datasets() -> Iterator[Any]:
    """The `datasets` module with its offline flag set and its progress bars off, both
    restored afterwards (the flags are read when a load runs; an environment variable
    would only count before the first import)."""
    datasets = _library("datasets")
    bars = _library("datasets.utils")
    saved = datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE
    bars_were_on = not bars.are_progress_bars_disabled()
    # a damaged file is also logged at ERROR by `datasets`; our one line says it instead
    library_logger = logging.getLogger("datasets")
    level = library_logger.level
    datasets.config.HF_HUB_OFFLINE = datasets.config.HF_DATASETS_OFFLINE = True
    bars.disable_progress_bars()
    library_logger.setLevel(logging.CRITICAL)
    try:
        yield datasets
    finally:
        datasets.config.HF_HUB_OFFLINE, datasets.config.HF_DATASETS_OFFLINE = saved
        library_logger.setLevel(level)
        if bars_were_on:
            bars.enable_progress_bars()


def _load_table(path: Path, form: str) -> Any:
    """The `datasets.Dataset` of a Parquet file or a `save_to_disk` folder, in memory."""
    with _offline_datasets() as datasets:
        if form == FOLDER:
            return datasets.Dataset.load_from_disk(str(path.resolve()), keep_in_memory=True)
        # the Parquet builder writes an Arrow copy into a cache: a private one, removed here,
        # so reading a user's file leaves nothing behind in ~/.cache/huggingface
        with tempfile.TemporaryDirectory(prefix="honesty-evals-parquet-") as cache:
            return datasets.Dataset.from_parquet(
                str(path.resolve()), cache_dir=cache, keep_in_memory=True
            )


def read_table_rows(
    path: str | Path, what: str = "data", columns: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Every row of a Parquet file or a `save_to_disk` folder, as plain dicts (maybe none).

    `columns` must all be present; a missing one is one line naming the table's columns.
    """
    local, form = data_form(path, what)
    if form == JSONL:
        raise ValueError(f"{path} is JSONL, not a table")  # a caller's mistake, not the user's
    return _table_rows(local, form, what, columns)


def _holds_no_rows(path: Path, form: str) -> bool:
    """Whether a table is empty, which `datasets` cannot load (it raises on no data)."""
    try:
        if form == FOLDER:
            state = json.loads((path / "state.json").read_text(encoding="utf-8"))
            return state.get("_data_files") == []
        return bool(_library("pyarrow.parquet").read_metadata(path).num_rows == 0)
    except Exception:  # unreadable: the loader says how, in its one line
        return False


def _table_rows(path: Path, form: str, what: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    if _holds_no_rows(path, form):
        return []
    try:
        dataset = _load_table(path, form)
    except Exception as exc:  # pyarrow, fsspec and datasets raise many types for bad bytes
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        fix = (
            "write it again (`Dataset.to_parquet`, `DataFrame.to_parquet`)"
            if form == PARQUET
            else "save it again with `Dataset.save_to_disk`"
        )
        raise UserInputError(
            f"{what} '{path}' is not a readable {form} ({detail}): {fix}"
        ) from None
    missing = [name for name in columns if name not in dataset.column_names]
    if missing:
        message = (
            f"{what} '{path}' has no {', '.join(repr(m) for m in missing)} column (its "
            f"columns: {', '.join(dataset.column_names) or 'none'})"
        )
        if "messages" in missing:
            message += ": chat records need a 'messages' column of [{role, content}] lists"
        raise UserInputError(message)
    # `to_list` reads the Arrow table itself, whatever format was set before saving; `plain`
    # still converts anything array-like that another `datasets` version might return
    return [plain(row) for row in dataset.to_list()]


def iter_data_records(
    path: str | Path, what: str = "data", columns: Sequence[str] = ()
) -> Iterator[DataRecord]:
    """Every record of a chat JSONL file, a Parquet file or a `save_to_disk` folder, in order.

    A JSONL line that is not JSON, an unreadable table, a table without one of `columns`,
    and no records at all are each one UserInputError naming the place and the fix, raised
    in record order, so a caller's own check of an earlier record comes first; what a record
    must hold is the caller's to check (name `DataRecord.where` in its errors).
    """
    local, form = data_form(path, what)
    if form == JSONL:
        yield from _jsonl_records(local, what)
        return
    rows = _table_rows(local, form, what, columns)
    if not rows:
        raise UserInputError(f"{what} '{path}' holds no records: give at least one")
    for i, row in enumerate(rows):
        yield DataRecord(f"{local} row {i}", i, row)


def _jsonl_records(path: Path, what: str) -> Iterator[DataRecord]:
    for number, line in numbered_lines(path, what):
        where = f"{path}:{number}"
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserInputError(
                f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); each line must "
                'hold one JSON object, e.g. {"messages": [...]}'
            ) from None
        yield DataRecord(where, number, value)


# -- what a dataset is, byte for byte (pins, training cards, resume fingerprints) ---------


def data_files(folder: Path) -> list[tuple[str, Path]]:
    """(path relative to `folder`, '/'-separated; the file) for every file under `folder`,
    sorted by that path: the fixed order a folder's digest and size are taken in.

    A symbolic link that leads outside the folder is refused: its bytes are not the folder's.
    """
    root = folder.resolve()
    found: list[tuple[str, Path]] = []
    for current, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in files:
            file = Path(current) / name
            rel = file.relative_to(folder).as_posix()
            try:
                file.resolve().relative_to(root)
            except ValueError:
                raise UserInputError(
                    f"{folder}/{rel} is a symbolic link to {file.resolve()}, outside the "
                    "dataset folder: replace the link with the file itself"
                ) from None
            found.append((rel, file))
    return sorted(found)


def file_sha256(path: Path) -> str:
    """SHA-256 of one file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_sha256(path: str | Path) -> str:
    """SHA-256 of a data file's bytes; for a folder, of its `sha256sum` listing.

    The listing is one line per file, `<sha256 of the file>  <path relative to the folder>`,
    in `data_files` order, so `(cd DIR && find . -type f | sed 's|^\\./||' | LC_ALL=C sort |
    xargs sha256sum) | sha256sum` gives the same digest.
    """
    path = Path(path)
    if not path.is_dir():
        return file_sha256(path)
    listing = "".join(f"{file_sha256(file)}  {rel}\n" for rel, file in data_files(path))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def data_size(path: str | Path) -> int:
    """Bytes of a data file, or of every file in a data folder."""
    path = Path(path)
    if not path.is_dir():
        return path.stat().st_size
    return sum(file.stat().st_size for _, file in data_files(path))
