"""The dataset manifest: `manifest.json` beside the data, one entry per pinned file.

The manifest is plain JSON written with a fixed key order, one field per line and paths
sorted, so a change to it reads well in a diff. Entries change only through
`honesty-evals datasets pin`; this module refuses a manifest that is malformed or names a
file outside its own directory.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.errors import UserInputError
from honesty_evals.integrity.schemas import ROLES, SCHEMAS

MANIFEST_NAME = "manifest.json"
FORMAT = "honesty-evals dataset manifest"
VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")
_ENTRY_KEYS = ("role", "schema", "sha256", "bytes", "records", "labels", "description")


class ManifestError(UserInputError):
    """The manifest itself cannot be trusted: verification cannot run."""


@dataclass
class ManifestEntry:
    path: str  # relative to the manifest's directory, '/'-separated
    role: str
    schema: str
    sha256: str
    bytes: int
    records: int
    labels: dict[str, int] = field(default_factory=dict)
    description: str = ""

    def to_json(self) -> dict[str, Any]:
        data = {key: getattr(self, key) for key in _ENTRY_KEYS}
        if not self.description:
            del data["description"]
        return data


@dataclass
class Manifest:
    directory: Path
    entries: dict[str, ManifestEntry]

    @property
    def path(self) -> Path:
        return self.directory / MANIFEST_NAME

    def by_sha256(self) -> dict[str, ManifestEntry]:
        return {entry.sha256: entry for entry in self.entries.values()}

    def render(self) -> str:
        data = {
            "format": FORMAT,
            "version": VERSION,
            "files": {p: self.entries[p].to_json() for p in sorted(self.entries)},
        }
        return json.dumps(data, indent=2, ensure_ascii=False) + "\n"

    def save(self) -> None:
        write_text_atomic(self.path, self.render())


def check_relative_path(path: str, where: str) -> str:
    """A manifest path must be relative, '/'-separated, normalised and stay inside."""
    if not isinstance(path, str) or not path:
        raise ManifestError(f"{where}: a file path must be a non-empty string")
    if "\\" in path or path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise ManifestError(
            f"{where}: path '{path}' must be relative to the manifest's folder and use '/'"
        )
    if posixpath.normpath(path) != path or path.split("/")[0] == "..":
        raise ManifestError(
            f"{where}: path '{path}' points outside the dataset directory or is not "
            "normalised; manifests may only name files inside their own folder"
        )
    if path == MANIFEST_NAME:
        raise ManifestError(f"{where}: the manifest cannot pin itself")
    return path


def _entry(path: str, raw: Any, where: str) -> ManifestEntry:
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: the entry must be an object")
    unknown = set(raw) - set(_ENTRY_KEYS)
    if unknown:
        raise ManifestError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    for key in ("role", "schema", "sha256", "bytes", "records"):
        if key not in raw:
            raise ManifestError(f"{where}: missing field '{key}'")
    if raw["role"] not in ROLES:
        raise ManifestError(f"{where}: role {raw['role']!r} is not one of {', '.join(ROLES)}")
    if raw["schema"] not in SCHEMAS:
        raise ManifestError(
            f"{where}: schema {raw['schema']!r} is not one of {', '.join(sorted(SCHEMAS))}"
        )
    if not isinstance(raw["sha256"], str) or not _SHA256.fullmatch(raw["sha256"]):
        raise ManifestError(f"{where}: sha256 must be 64 lower-case hex digits")
    for key in ("bytes", "records"):
        value = raw[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ManifestError(f"{where}: {key} must be a whole number >= 0")
    labels = raw.get("labels", {})
    if not isinstance(labels, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in labels.items()
    ):
        raise ManifestError(f"{where}: labels must map label names to counts")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise ManifestError(f"{where}: description must be a string")
    return ManifestEntry(
        path=path,
        role=raw["role"],
        schema=raw["schema"],
        sha256=raw["sha256"],
        bytes=raw["bytes"],
        records=raw["records"],
        labels=dict(labels),
        description=description,
    )


def load_manifest(directory: Path | str) -> Manifest:
    """Read and validate `DIRECTORY/manifest.json`; raise ManifestError saying what is wrong."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not directory.is_dir():
        raise UserInputError(f"{directory}: no such dataset directory")
    if not path.is_file():
        raise ManifestError(
            f"{path}: no manifest here; create one with "
            f"`honesty-evals datasets pin FILE --role ROLE --dir {directory}`"
        )
    fix = "restore it (e.g. `git checkout` it) or re-create it with `honesty-evals datasets pin`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text; {fix}") from None
    except json.JSONDecodeError as exc:
        raise ManifestError(
            f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno}); {fix}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ManifestError(f"{path}: not a honesty-evals dataset manifest; {fix}")
    if data.get("version") != VERSION:
        raise ManifestError(
            f"{path}: manifest version {data.get('version')!r} is not supported (this "
            f"honesty-evals reads version {VERSION}); upgrade honesty-evals"
        )
    files = data.get("files")
    if not isinstance(files, dict):
        raise ManifestError(f"{path}: 'files' must be an object mapping paths to entries")
    entries: dict[str, ManifestEntry] = {}
    seen_sha: dict[str, str] = {}
    for rel, raw in files.items():
        where = f"{path}: entry '{rel}'"
        check_relative_path(rel, where)
        entry = _entry(rel, raw, where)
        if entry.sha256 in seen_sha:
            raise ManifestError(
                f"{where}: has the same sha256 as '{seen_sha[entry.sha256]}'; two entries "
                "with identical bytes make a swap between them undetectable"
            )
        seen_sha[entry.sha256] = rel
        entries[rel] = entry
    return Manifest(directory=directory, entries=entries)


def find_manifest_dir(path: Path) -> Path | None:
    """The nearest folder above the data file or folder `path` that holds a manifest."""
    for folder in path.parents:
        if (folder / MANIFEST_NAME).is_file():
            return folder
    return None
