"""Verify data files against their manifest, and the guard every task runs before loading.

Each finding is one line that names the file (and line), says what is wrong and, where it
can, how to fix it. Errors fail verification; warnings (an unpinned file, a role that the
records cannot confirm) do not.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from honesty_evals.common.records import data_files, data_sha256, is_saved_dataset
from honesty_evals.errors import UserInputError
from honesty_evals.integrity.manifest import (
    MANIFEST_NAME,
    Manifest,
    ManifestEntry,
    ManifestError,
    find_manifest_dir,
    load_manifest,
    write_text_atomic,
)
from honesty_evals.integrity.scan import (
    MAX_PROBLEMS_PER_KIND,
    FileScan,
    scan_file,
    sha256_with_lf_endings,
)
from honesty_evals.integrity.schemas import label_contradicts_role
from honesty_evals.paths import cache_dir, shipped_datasets_dir

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]
_SKIPPED_NAMES = {MANIFEST_NAME, ".gitattributes", "__pycache__"}


@dataclass
class Finding:
    severity: str  # error | warning
    kind: str
    path: str  # relative to the dataset directory
    message: str  # the whole line shown to the user
    line: int | None = None


@dataclass
class FileResult:
    path: str
    role: str
    schema: str
    status: str  # ok | failed | missing
    registered_sha256: str
    sha256: str | None = None
    bytes: int | None = None
    records: int | None = None
    labels: dict[str, int] = field(default_factory=dict)


@dataclass
class VerifyReport:
    directory: str
    files: list[FileResult]
    findings: list[Finding]
    seconds: float
    bytes_read: int

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        records = sum(f.records or 0 for f in self.files)
        failed = sum(f.status != "ok" for f in self.files)
        verdict = "OK" if self.ok else "FAILED"
        return (
            f"{verdict}: {len(self.files)} pinned files in {self.directory} "
            f"({records:,} records, {self.bytes_read / 1e6:,.1f} MB in {self.seconds:.2f} s); "
            f"{failed} failed, {len(self.errors)} problems, {len(self.warnings)} warnings"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "directory": self.directory,
            "seconds": round(self.seconds, 4),
            "bytes_read": self.bytes_read,
            "files": [asdict(f) for f in self.files],
            "problems": [asdict(f) for f in self.errors],
            "warnings": [asdict(f) for f in self.warnings],
        }


def _short(sha: str) -> str:
    return sha[:12]


def _is_inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def _format_counts(counts: dict[str, int]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + "}"


def _content_findings(
    manifest: Manifest, entry: ManifestEntry, scan: FileScan
) -> tuple[list[Finding], bool]:
    """What is wrong with the file's bytes against its entry (sha256, size, records), and
    whether that explains a change of content (a swap, or converted line endings)."""
    rel = entry.path
    findings: list[Finding] = []

    def error(kind: str, message: str) -> None:
        findings.append(Finding("error", kind, rel, message))

    content_explained = False
    if scan.sha256 != entry.sha256:
        other = manifest.by_sha256().get(scan.sha256)
        if other is not None:
            content_explained = True
            error(
                "swap",
                f"{rel} holds the bytes registered for {other.path} (role {other.role}); "
                f"{rel} is registered as role {entry.role}: the files were swapped or one "
                "was copied over the other",
            )
        elif scan.has_cr and sha256_with_lf_endings(manifest.directory / rel) == entry.sha256:
            content_explained = True
            error(
                "crlf",
                f"{rel}: line endings were converted to CRLF (for example by git's "
                "core.autocrlf); the content is otherwise identical. Restore the LF file "
                "(git checkout, dos2unix) and keep data files `-text` in .gitattributes",
            )
        else:
            error(
                "mismatch",
                f"{rel}: content changed: sha256 {_short(scan.sha256)}... is not the "
                f"registered {_short(entry.sha256)}... ({scan.size:,} bytes, registered "
                f"{entry.bytes:,}; {scan.records:,} records, registered {entry.records:,})",
            )
            if scan.size < entry.bytes and (
                not scan.ends_with_newline or scan.records < entry.records
            ):
                error(
                    "truncated",
                    f"{rel}: truncated: {scan.size:,} of {entry.bytes:,} registered bytes and "
                    f"{scan.records:,} of {entry.records:,} records are left",
                )
    else:
        if scan.size != entry.bytes or scan.records != entry.records:
            error(
                "manifest",
                f"{rel}: the sha256 matches but the manifest says {entry.bytes:,} bytes and "
                f"{entry.records:,} records (the file has {scan.size:,} and "
                f"{scan.records:,}): the manifest was edited by hand; re-pin the file",
            )
    return findings, content_explained


def diagnose(manifest: Manifest, entry: ManifestEntry, scan: FileScan) -> list[Finding]:
    """Everything wrong with one pinned file, given one scan of its bytes."""
    rel = entry.path
    findings, content_explained = _content_findings(manifest, entry, scan)

    def error(kind: str, message: str, line: int | None = None) -> None:
        findings.append(Finding("error", kind, rel, message, line))

    for problem in scan.problems:
        error(problem.kind, f"{scan.at(rel, problem.line)}: {problem.message}", problem.line)
    for kind, total in sorted(scan.problem_counts.items()):
        if total > MAX_PROBLEMS_PER_KIND:
            error(kind, f"{rel}: ... and {total - MAX_PROBLEMS_PER_KIND:,} more {kind} problems")

    contradicting = {
        label: n for label, n in scan.labels.items() if label_contradicts_role(label, entry.role)
    }
    labelled = sum(scan.labels.values())
    if contradicting:
        lines = sorted(n for label in contradicting for n in scan.label_lines.get(label, []))
        error(
            "role",
            f"{rel}: {sum(contradicting.values()):,} of {labelled:,} labelled records "
            f"contradict the declared role '{entry.role}' "
            f"({', '.join(f'{n:,} labelled {label!r}' for label, n in contradicting.items())}; "
            f"first at {scan.unit} {', '.join(map(str, lines[:5]))}): the file holds other data "
            "than its role says, or its role is wrong",
            lines[0] if lines else None,
        )
    elif labelled == 0 and entry.role in ("honest", "dishonest") and scan.records:
        findings.append(
            Finding(
                "warning",
                "unlabelled",
                rel,
                f"{rel}: declared role '{entry.role}' but no record carries a label, so the "
                "content cannot confirm the role",
            )
        )
    if not content_explained and scan.labels != entry.labels and not contradicting:
        error(
            "labels",
            f"{rel}: label counts {_format_counts(scan.labels)} differ from the registered "
            f"{_format_counts(entry.labels)}",
        )
    return findings


def check_entry(
    manifest: Manifest,
    entry: ManifestEntry,
    progress: ProgressCallback | None = None,
    memo: bool = True,
) -> tuple[FileResult, list[Finding], FileScan | None]:
    """Scan one pinned file and diagnose it."""
    path = manifest.directory / entry.path
    result = FileResult(entry.path, entry.role, entry.schema, "failed", entry.sha256)
    if not path.exists() and not path.is_symlink():
        result.status = "missing"
        message = f"{entry.path}: missing (registered role {entry.role}, {entry.bytes:,} bytes)"
        return result, [Finding("error", "missing", entry.path, message)], None
    if not _is_inside(path, manifest.directory):
        message = (
            f"{entry.path}: is a symbolic link to {path.resolve()}, outside the dataset "
            "directory; refusing to read it. Replace the link with the file itself"
        )
        return result, [Finding("error", "outside", entry.path, message)], None
    if not (path.is_file() or path.is_dir()):
        message = f"{entry.path}: is not a regular file or a folder"
        return result, [Finding("error", "not_a_file", entry.path, message)], None
    try:
        scan = scan_file(path, entry.schema, progress=progress, memo=memo)
    except UserInputError as exc:  # a table that cannot be read, a link out of a folder
        return result, [Finding("error", "unreadable", entry.path, str(exc))], None
    result.sha256, result.bytes, result.records = scan.sha256, scan.size, scan.records
    result.labels = scan.labels
    findings = diagnose(manifest, entry, scan)
    if not any(f.severity == "error" for f in findings):
        result.status = "ok"
    return result, findings, scan


def _unpinned_files(manifest: Manifest) -> list[str]:
    """Files, and `save_to_disk` folders, that the manifest does not pin (a pinned folder's
    own files are its entry's)."""
    directory = manifest.directory
    found = []
    for root, dirs, files in os.walk(directory):
        here = Path(root).relative_to(directory).as_posix()
        if here != "." and (here in manifest.entries or is_saved_dataset(Path(root))):
            if here not in manifest.entries:
                found.append(here)
            dirs[:] = []  # a dataset folder is one entry: its files are not looked at one by one
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in _SKIPPED_NAMES)
        for name in sorted(files):
            if name.startswith(".") or name in _SKIPPED_NAMES or name.lower().endswith(".md"):
                continue
            rel = (Path(root) / name).relative_to(directory).as_posix()
            if rel not in manifest.entries:
                found.append(rel)
    return found


def verify_directory(
    directory: Path | str | None = None,
    progress: ProgressCallback | None = None,
    memo: bool = True,
) -> VerifyReport:
    """Verify every file `DIRECTORY/manifest.json` pins, and look for files it does not.

    With `memo`, the record checks of a large file whose exact bytes (by the SHA-256 computed
    now) were checked before are reused; `memo=False` checks every record again.
    """
    directory = Path(directory) if directory is not None else shipped_datasets_dir()
    start = time.perf_counter()
    manifest = load_manifest(directory)
    files: list[FileResult] = []
    findings: list[Finding] = []
    bytes_read = 0
    for rel in sorted(manifest.entries):
        result, entry_findings, _ = check_entry(
            manifest, manifest.entries[rel], progress, memo=memo
        )
        files.append(result)
        findings.extend(entry_findings)
        bytes_read += result.bytes or 0

    missing = {f.registered_sha256: f.path for f in files if f.status == "missing"}
    pinned_sha = {e.sha256: e for e in manifest.entries.values()}
    for rel in _unpinned_files(manifest):
        path = directory / rel
        if not _is_inside(path, directory):
            findings.append(
                Finding(
                    "error",
                    "outside",
                    rel,
                    f"{rel}: is a symbolic link to {path.resolve()}, outside the dataset "
                    "directory; refusing to read it. Remove it or replace it with the file",
                )
            )
            continue
        sha = data_sha256(path) if missing else None
        if sha in missing:
            findings.append(
                Finding(
                    "error",
                    "renamed",
                    rel,
                    f"{missing[sha]} is missing and {rel} (not in the manifest) holds its "
                    f"bytes (role {pinned_sha[sha].role}): the file was renamed; rename it "
                    "back, or pin the new name and drop the old entry",
                )
            )
            continue
        findings.append(
            Finding(
                "warning",
                "unpinned",
                rel,
                f"{rel}: not in the manifest; pin it with `honesty-evals datasets pin "
                f"{path} --role ROLE`",
            )
        )
    return VerifyReport(
        directory=str(directory),
        files=files,
        findings=findings,
        seconds=time.perf_counter() - start,
        bytes_read=bytes_read,
    )


# ----------------------------------------------------------------------------------------
# The guard tasks and the trainer call before they read a shipped file.


def _cache_path() -> Path:
    return cache_dir() / "integrity" / "verified-v1.json"


def _entry_fingerprint(entry: ManifestEntry) -> str:
    return hashlib.sha256(json.dumps(entry.to_json(), sort_keys=True).encode()).hexdigest()


def _read_cache() -> dict[str, Any]:
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # no cache, or a damaged one: verify again and rewrite it


def _write_cache(cache: dict[str, Any]) -> None:
    try:
        write_text_atomic(_cache_path(), json.dumps(cache, indent=0, sort_keys=True))
    except OSError as exc:  # a read-only cache only costs speed
        logger.debug("could not write the verification cache: %s", exc)


def _stat_key(path: Path) -> dict[str, Any]:
    """What changes when a file's (or any of a folder's files') bytes may have changed."""
    if path.is_dir():
        return {"files": [[rel, *_stat_key(file).values()] for rel, file in data_files(path)]}
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "inode": stat.st_ino}


def require_verified(
    relpaths: Sequence[str],
    *,
    allow_unverified: bool = False,
    directory: Path | str | None = None,
) -> dict[str, Any]:
    """Verify data files (paths relative to `directory`, default the shipped `datasets/`).

    A file whose size, mtime and manifest entry are unchanged since it last verified is not
    read again. On any problem this raises UserInputError naming it, unless
    `allow_unverified`, in which case the problems are logged and returned. The returned
    dict belongs in the task's metadata (key "datasets"), so the eval log records exactly
    what was loaded and whether it was verified.
    """
    directory = Path(directory) if directory is not None else shipped_datasets_dir()
    summary: dict[str, Any] = {
        "directory": str(directory),
        "allow_unverified": bool(allow_unverified),
        "verified": True,
        "files": [],
    }
    problems: list[str] = []
    try:
        manifest = load_manifest(directory)
    except ManifestError as exc:
        manifest = None
        problems.append(str(exc))
    cache = _read_cache()
    cache_changed = False
    for rel in relpaths:
        record: dict[str, Any] = {"path": rel, "verified": False}
        summary["files"].append(record)
        if manifest is None:
            continue
        entry = manifest.entries.get(rel)
        if entry is None:
            problems.append(
                f"{rel}: not pinned in {manifest.path}; pin it with `honesty-evals datasets "
                f"pin {directory / rel} --role ROLE`"
            )
            continue
        record.update(role=entry.role, sha256=entry.sha256)
        path = directory / rel
        key = str(path.resolve())
        fingerprint = _entry_fingerprint(entry)
        try:
            stat = _stat_key(path)
        except (OSError, UserInputError):  # gone, or a folder with a link out: check it
            stat = None
        cached = cache.get(key)
        if stat and cached == {**stat, "entry": fingerprint}:
            record.update(verified=True, cached=True)
            continue
        result, findings, _ = check_entry(manifest, entry)
        errors = [f.message for f in findings if f.severity == "error"]
        if errors:
            problems.extend(errors)
            record.update(problems=errors, loaded_sha256=result.sha256)
            continue
        record["verified"] = True
        if stat:
            cache[key] = {**stat, "entry": fingerprint}
            cache_changed = True
    if cache_changed:
        _write_cache(cache)
    if problems:
        summary["verified"] = False
        summary["problems"] = problems
        _refuse_or_warn(problems, directory, allow_unverified)
    return summary


def _refuse_or_warn(problems: list[str], directory: Path, allow_unverified: bool) -> None:
    """Stop on the first problem, or with `allow_unverified` log them all and go on."""
    if not allow_unverified:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise UserInputError(
            f"dataset verification failed: {problems[0]}{more}. Run `honesty-evals "
            f"datasets verify {directory}` for the full report, or pass "
            "allow_unverified=true (-T allow_unverified=true) to run anyway, which is "
            "recorded in the eval log"
        )
    for problem in problems:
        logger.warning("running on unverified data (allow_unverified): %s", problem)


def verify_if_pinned(path: Path | str, *, allow_unverified: bool = False) -> dict[str, Any]:
    """Verify a data file or folder if a manifest above it pins it (the trainer calls this)."""
    path = Path(path).resolve()
    directory = find_manifest_dir(path)
    if directory is None:
        return {"path": str(path), "pinned": False}
    rel = path.relative_to(directory.resolve()).as_posix()
    try:
        manifest = load_manifest(directory)
    except ManifestError:
        manifest = None
    if manifest is not None and rel not in manifest.entries:
        return {"path": str(path), "pinned": False, "manifest": str(directory / MANIFEST_NAME)}
    return {
        "pinned": True,
        **require_verified([rel], allow_unverified=allow_unverified, directory=directory),
    }
