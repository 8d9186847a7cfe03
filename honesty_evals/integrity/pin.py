"""`honesty-evals datasets pin`: the one way a manifest entry is added or changed.

A JSONL file, a Parquet file or a `save_to_disk` folder can be pinned (`common.records`);
a folder's entry holds the digest of its files (`common.records.data_sha256`), their
total size, and the record count and labels of its rows.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from pydantic_core import from_json

from honesty_evals.common.records import JSONL, data_form, read_table_rows
from honesty_evals.common.textfile import check_no_bom
from honesty_evals.errors import UserInputError
from honesty_evals.integrity.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestEntry,
    find_manifest_dir,
    load_manifest,
)
from honesty_evals.integrity.scan import FileScan, scan_file
from honesty_evals.integrity.schemas import ROLES, SCHEMAS, guess_schema, label_contradicts_role


@dataclass
class PinResult:
    entry: ManifestEntry
    manifest_path: Path
    diff: str  # unified diff of manifest.json; empty when nothing changed
    created: bool  # a new manifest was started
    written: bool


class PinRefused(UserInputError):
    """The file cannot be pinned as asked; `problems` lists every reason, one per line."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


def _first_record(path: Path, form: str) -> object | None:
    if form != JSONL:
        rows = read_table_rows(path, "file to pin")
        return rows[0] if rows else None
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                try:
                    return from_json(line)
                except ValueError:
                    return None
    return None


def _place_in_dataset(file: Path, directory: Path | str | None) -> tuple[Path, str]:
    """The dataset directory (given, or the nearest with a manifest) and `file`'s path in it."""
    if directory is None:
        directory = find_manifest_dir(file.absolute())
        if directory is None:
            raise UserInputError(
                f"no {MANIFEST_NAME} in {file.parent} or any folder above it: pass --dir DIR, "
                "the dataset folder where the manifest should be created"
            )
    directory = Path(directory)
    if not directory.is_dir():
        raise UserInputError(f"--dir {directory}: no such directory")
    try:
        rel = file.absolute().relative_to(directory.absolute()).as_posix()
    except ValueError:
        raise UserInputError(
            f"{file} is not inside the dataset directory {directory}; move it there first"
        ) from None
    try:
        file.resolve().relative_to(directory.resolve())
    except ValueError:
        raise UserInputError(
            f"{file} is a symbolic link to {file.resolve()}, outside the dataset directory "
            f"{directory}; copy the file in instead"
        ) from None
    if rel == MANIFEST_NAME:
        raise UserInputError("the manifest cannot pin itself")
    return directory, rel


def _refusals(rel: str, role: str, scan: FileScan, manifest: Manifest) -> list[str]:
    """Why the scanned file cannot be pinned as `role` (empty: it can)."""
    problems = [f"{scan.at(rel, p.line)}: {p.message}" for p in scan.problems]
    hidden = scan.n_problems - len(scan.problems)
    if hidden:
        problems.append(f"{rel}: ... and {hidden:,} more record problems")
    if scan.records == 0 and not problems:
        problems.append(f"{rel}: holds no records: write its records before pinning it")
    contradicting = {k: n for k, n in scan.labels.items() if label_contradicts_role(k, role)}
    if contradicting:
        lines = sorted(n for k in contradicting for n in scan.label_lines.get(k, []))
        problems.append(
            f"{rel}: {sum(contradicting.values()):,} records are labelled "
            f"{', '.join(repr(k) for k in contradicting)}, which contradicts --role {role} "
            f"(first at {scan.unit} {', '.join(map(str, lines[:5]))}); check the file's content "
            "or give the role it really has"
        )
    twin = manifest.by_sha256().get(scan.sha256)
    if twin is not None and twin.path != rel:
        problems.append(
            f"{rel} has exactly the bytes of the pinned {twin.path} (role {twin.role}); two "
            "entries with identical content would hide a swap between them"
        )
    return problems


def pin_file(
    file: Path | str,
    role: str,
    *,
    schema: str | None = None,
    directory: Path | str | None = None,
    description: str | None = None,
    dry_run: bool = False,
) -> PinResult:
    """Add or update the manifest entry for `file` (a JSONL or Parquet file, or a
    `save_to_disk` folder) after checking every record in it."""
    file, form = data_form(file, "file to pin")
    if form == JSONL:
        check_no_bom(file, "file to pin")
    if role not in ROLES:
        raise UserInputError(f"--role {role!r} is not one of {', '.join(ROLES)}")
    if schema is not None and schema not in SCHEMAS:
        raise UserInputError(f"--schema {schema!r} is not one of {', '.join(sorted(SCHEMAS))}")
    directory, rel = _place_in_dataset(file, directory)

    created = not (directory / MANIFEST_NAME).is_file()
    manifest = Manifest(directory, {}) if created else load_manifest(directory)
    old_text = "" if created else (directory / MANIFEST_NAME).read_text(encoding="utf-8")
    previous = manifest.entries.get(rel)
    if schema is None:
        schema = previous.schema if previous else guess_schema(_first_record(file, form))

    scan = scan_file(file, schema)
    problems = _refusals(rel, role, scan, manifest)
    if problems:
        raise PinRefused(f"not pinned: {problems[0]}", problems)

    entry = ManifestEntry(
        path=rel,
        role=role,
        schema=schema,
        sha256=scan.sha256,
        bytes=scan.size,
        records=scan.records,
        labels=scan.labels,
        description=(
            description if description is not None else (previous.description if previous else "")
        ),
    )
    manifest.entries[rel] = entry
    new_text = manifest.render()
    diff = "".join(
        difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"a/{MANIFEST_NAME}",
            tofile=f"b/{MANIFEST_NAME}",
        )
    )
    written = bool(diff) and not dry_run
    if written:
        manifest.save()
    return PinResult(entry, directory / MANIFEST_NAME, diff, created, written)
