"""One streaming pass over a JSONL file: its SHA-256 and every record-level check.

Parquet files and `save_to_disk` folders are read whole through `common.records`
(`scan_table`): their digest is `common.records.data_sha256`, and their errors name rows.

The record checks (UTF-8, JSON, schema, labels, duplicates) cost more CPU per byte than
SHA-256 itself, so a large file is cut at line boundaries into one byte range per core and
each range is parsed in its own process, while this process streams the whole file through
hashlib (which runs in C without the GIL). Small files are done in-process.

This module must stay cheap to import: spawned worker processes import it.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import traceback
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash
from pydantic_core import from_json

from honesty_evals.integrity.schemas import get_schema

if TYPE_CHECKING:  # ForkContext exists only on POSIX
    from multiprocessing.context import ForkContext, SpawnContext

BLOCK_BYTES = 1 << 23  # 8 MiB reads: large enough that per-call overhead vanishes
PARALLEL_MIN_BYTES = 64 << 20  # below this, starting processes costs more than it saves
MAX_PROBLEMS_PER_KIND = 20  # line-level problems listed per kind; the rest are counted
LABEL_LINES_KEPT = 5  # first line numbers kept per label, to point at contradictions

ProgressCallback = Callable[[int], None]


@dataclass
class LineProblem:
    line: int
    kind: str  # utf8 | json | schema | incomplete | duplicate
    message: str


@dataclass
class FileScan:
    """What one pass over a file found."""

    sha256: str
    size: int
    lines: int  # physical lines, the last one counted even without a newline
    records: int  # non-blank lines
    labels: dict[str, int]
    label_lines: dict[str, list[int]]  # label -> first line numbers carrying it
    problems: list[LineProblem]  # the first MAX_PROBLEMS_PER_KIND of each kind
    problem_counts: dict[str, int]  # kind -> total number found
    has_cr: bool  # a carriage return anywhere (CRLF line endings)
    ends_with_newline: bool
    unit: str = "line"  # what `lines` and line numbers count: JSONL lines, or table rows

    @property
    def n_problems(self) -> int:
        return sum(self.problem_counts.values())

    def at(self, rel: str, number: int) -> str:
        """Where record `number` of the file `rel` is: `rel:LINE` or `rel row N`."""
        return f"{rel}:{number}" if self.unit == "line" else f"{rel} row {number}"


@dataclass
class _Chunk:
    """A worker's findings over one byte range; line numbers are local to the range."""

    lines: int = 0
    records: int = 0
    labels: dict[str, int] = field(default_factory=dict)
    label_lines: dict[str, list[int]] = field(default_factory=dict)
    problems: list[tuple[int, str, str]] = field(default_factory=list)
    problem_counts: dict[str, int] = field(default_factory=dict)
    hashes: bytes = b""  # array('Q') of per-line xxh3 digests
    has_cr: bool = False
    last_line_unterminated: bool = False


def _json_error_text(exc: ValueError) -> str:
    # pydantic_core says "... at line 1 column 7"; within one line only the column matters
    return str(exc).replace(" at line 1 column ", " at column ")


def _utf8_error(line: bytes) -> str | None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return (
            f"not valid UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1}); "
            "re-encode the file as UTF-8"
        )
    return None


class _ChunkScanner:
    def __init__(self, schema_name: str) -> None:
        self.inspect = get_schema(schema_name).inspector
        self.result = _Chunk()
        self.digests = array("Q")

    def problem(self, line: int, kind: str, message: str) -> None:
        counts = self.result.problem_counts
        counts[kind] = counts.get(kind, 0) + 1
        if counts[kind] <= MAX_PROBLEMS_PER_KIND:
            self.result.problems.append((line, kind, message))

    def feed(self, lines: list[bytes], unterminated: bool = False) -> None:
        result = self.result
        inspect = self.inspect
        labels, label_lines = result.labels, result.label_lines
        self.digests.extend(map(xxhash.xxh3_64_intdigest, lines))
        result.records += len(lines) - lines.count(b"") - lines.count(b"\r")
        n = result.lines
        for line in lines:
            n += 1
            try:
                record = from_json(line, cache_strings=False)
            except ValueError as exc:
                if line in (b"", b"\r"):  # blank lines hold no record
                    continue
                utf8 = _utf8_error(line)
                if unterminated:
                    self.problem(
                        n,
                        "incomplete",
                        "the last line is cut off (no newline at the end and not a complete "
                        "record): the file looks truncated",
                    )
                elif utf8:
                    self.problem(n, "utf8", utf8)
                else:
                    self.problem(n, "json", f"malformed JSON: {_json_error_text(exc)}")
                continue
            bad, label = inspect(record)
            if bad:
                self.problem(n, "schema", bad)
            elif label is not None:
                count = labels.get(label, 0)
                labels[label] = count + 1
                if count < LABEL_LINES_KEPT:
                    label_lines.setdefault(label, []).append(n)
        result.lines = n

    def finish(self) -> _Chunk:
        self.result.hashes = self.digests.tobytes()
        return self.result


def _iter_blocks(
    path: Path, start: int, end: int, block_bytes: int = BLOCK_BYTES
) -> Iterable[bytes]:
    with open(path, "rb", buffering=0) as f:
        f.seek(start)
        remaining = end - start
        while remaining > 0:
            block = f.read(min(block_bytes, remaining))
            if not block:
                break
            remaining -= len(block)
            yield block


def _scan_range(
    path: Path,
    start: int,
    end: int,
    schema_name: str,
    hasher: Any | None = None,
    progress: ProgressCallback | None = None,
) -> _Chunk:
    """Check every line in [start, end), which must begin at a line start."""
    import gc

    # records are parsed and dropped at once, so they never form cycles; the collector
    # would only rescan them (a measurable share of the per-record cost)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _scan_range_body(path, start, end, schema_name, hasher, progress)
    finally:
        if gc_was_enabled:
            gc.enable()


def _scan_range_body(
    path: Path,
    start: int,
    end: int,
    schema_name: str,
    hasher: Any | None,
    progress: ProgressCallback | None,
) -> _Chunk:
    scanner = _ChunkScanner(schema_name)
    tail = b""
    has_cr = False
    for block in _iter_blocks(path, start, end):
        if hasher is not None:
            hasher.update(block)
        if progress is not None:
            progress(len(block))
        has_cr = has_cr or b"\r" in block
        data = tail + block if tail else block
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        lines = data[:cut].split(b"\n")
        lines.pop()  # the empty string after the last newline
        scanner.feed(lines)
    if tail:  # a last line with no newline: truncated, or an editor dropped the newline
        scanner.feed([tail], unterminated=True)
        scanner.result.last_line_unterminated = True
    result = scanner.finish()
    result.has_cr = has_cr
    return result


def _worker(conn: Any, path: str, start: int, end: int, schema_name: str) -> None:
    try:
        conn.send(("ok", _scan_range(Path(path), start, end, schema_name)))
    except BaseException:  # report anything to the parent rather than die silently
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def _line_boundaries(path: Path, size: int, parts: int) -> list[int]:
    """Byte offsets [0, b1, ..., size] cutting the file into `parts` ranges at line starts."""
    cuts = [0]
    with open(path, "rb") as f:
        for i in range(1, parts):
            f.seek(max(size * i // parts - 1, cuts[-1]))
            f.readline()  # move to the start of the next line
            cuts.append(max(f.tell(), cuts[-1]))
    cuts.append(size)
    return cuts


def _hash_stream(path: Path, hasher: Any, progress: ProgressCallback | None) -> None:
    buffer = bytearray(BLOCK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buffer):
            hasher.update(view[:n])
            if progress is not None:
                progress(n)


def _scan_parallel(
    path: Path,
    size: int,
    schema_name: str,
    workers: int,
    progress: ProgressCallback | None,
    lookup: Callable[[str], FileScan | None] | None = None,
) -> tuple[str, list[_Chunk] | FileScan]:
    import multiprocessing

    # fork is fastest and safe while this process runs a single thread (the command line);
    # inside Inspect or any threaded host, spawn a clean interpreter instead.
    context: ForkContext | SpawnContext
    if threading.active_count() == 1 and os.name == "posix":
        context = multiprocessing.get_context("fork")
    else:
        context = multiprocessing.get_context("spawn")
    cuts = _line_boundaries(path, size, workers)
    jobs = []
    for start, end in zip(cuts[:-1], cuts[1:]):
        receive, send = context.Pipe(duplex=False)
        process = context.Process(
            target=_worker, args=(send, str(path), start, end, schema_name), daemon=True
        )
        process.start()
        send.close()
        jobs.append((process, receive))
    hasher = hashlib.sha256()
    try:
        _hash_stream(path, hasher, progress)
        known = lookup(hasher.hexdigest()) if lookup is not None else None
        if known is not None:  # these exact bytes were checked before: stop the workers
            for process, _ in jobs:
                process.kill()
            return hasher.hexdigest(), known
        chunks = []
        for _, receive in jobs:
            try:
                status, payload = receive.recv()
            except EOFError:
                raise RuntimeError(f"a scanning worker for {path} died") from None
            if status != "ok":
                raise RuntimeError(f"scanning {path} failed in a worker:\n{payload}")
            chunks.append(payload)
    finally:
        for process, receive in jobs:
            receive.close()
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    return hasher.hexdigest(), chunks


def _merge(chunks: list[_Chunk]) -> tuple[int, int, dict, dict, list[LineProblem], dict]:
    lines = records = 0
    labels: dict[str, int] = {}
    label_lines: dict[str, list[int]] = {}
    problems: list[LineProblem] = []
    counts: dict[str, int] = {}
    for chunk in chunks:
        for label, n in chunk.labels.items():
            labels[label] = labels.get(label, 0) + n
        for label, where in chunk.label_lines.items():
            kept = label_lines.setdefault(label, [])
            kept.extend(lines + w for w in where[: LABEL_LINES_KEPT - len(kept)])
        for kind, n in chunk.problem_counts.items():
            counts[kind] = counts.get(kind, 0) + n
        for line, kind, message in chunk.problems:
            if sum(p.kind == kind for p in problems) < MAX_PROBLEMS_PER_KIND:
                problems.append(LineProblem(lines + line, kind, message))
        lines += chunk.lines
        records += chunk.records
    return lines, records, labels, label_lines, problems, counts


def _lines_at(path: Path, wanted: set[int]) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if number in wanted:
                found[number] = line.rstrip(b"\n")
                if len(found) == len(wanted):
                    break
    return found


def _duplicates(path: Path, chunks: list[_Chunk]) -> tuple[list[LineProblem], int]:
    """Lines whose bytes repeat an earlier line (64-bit digests, confirmed byte for byte)."""
    import numpy as np

    digests = np.concatenate(
        [np.frombuffer(c.hashes, dtype=np.uint64) for c in chunks] or [np.zeros(0, np.uint64)]
    )
    blank = [xxhash.xxh3_64_intdigest(b""), xxhash.xxh3_64_intdigest(b"\r")]
    nonblank = np.flatnonzero(~np.isin(digests, np.array(blank, dtype=np.uint64)))
    values = digests[nonblank]
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    repeats = np.flatnonzero(ordered[1:] == ordered[:-1]) + 1
    if repeats.size == 0:
        return [], 0
    # first occurrence of each repeated digest: walk back to the start of its run
    pairs: list[tuple[int, int]] = []
    run_start = 0
    for position in range(1, len(ordered)):
        if ordered[position] != ordered[position - 1]:
            run_start = position
        elif len(pairs) < 4 * MAX_PROBLEMS_PER_KIND:
            first = int(nonblank[order[run_start]]) + 1
            pairs.append((int(nonblank[order[position]]) + 1, first))
    total = int(repeats.size)
    text = _lines_at(path, {n for pair in pairs for n in pair})
    confirmed = [(line, first) for line, first in pairs if text.get(line) == text.get(first)]
    # digests that collided without equal bytes are not duplicates (astronomically rare)
    total -= len(pairs) - len(confirmed)
    problems = [
        LineProblem(line, "duplicate", f"duplicate record: the same bytes as line {first}")
        for line, first in sorted(confirmed)[:MAX_PROBLEMS_PER_KIND]
    ]
    return problems, total


def usable_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ----------------------------------------------------------------------------------------
# Content-addressed memo of record checks. The checks are a pure function of the bytes and
# the schema, so a result stored under the SHA-256 computed in this very run is exactly what
# checking again would give: a large file seen before costs one hashing pass. The key never
# comes from the manifest, so a hand-edited manifest cannot make bad records look checked.

SCAN_VERSION = 1  # bump whenever a record check changes


def _memo_path(sha256: str, schema: str) -> Path:
    from honesty_evals.paths import cache_dir

    return cache_dir() / "integrity" / "scans" / f"{sha256}.{schema}.v{SCAN_VERSION}.json"


def _memo_lookup(schema: str, size: int) -> Callable[[str], FileScan | None]:
    def lookup(sha256: str) -> FileScan | None:
        try:
            data = json.loads(_memo_path(sha256, schema).read_text(encoding="utf-8"))
            scan = FileScan(**{**data, "problems": [LineProblem(*p) for p in data["problems"]]})
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return scan if scan.sha256 == sha256 and scan.size == size else None

    return lookup


def _memo_store(scan: FileScan, schema: str) -> None:
    data = {
        **scan.__dict__,
        "problems": [[p.line, p.kind, p.message] for p in scan.problems],
    }
    from honesty_evals.common.atomic import write_text_atomic

    try:
        write_text_atomic(_memo_path(scan.sha256, schema), json.dumps(data))
    except OSError:  # a read-only cache costs speed, never correctness
        pass


def scan_file(
    path: Path | str,
    schema: str = "jsonl",
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    memo: bool = True,
) -> FileScan:
    """Hash `path` and check every record against `schema`, in one pass over the bytes.

    Args:
        path: A JSONL file; a Parquet file or a `save_to_disk` folder goes to `scan_table`.
        schema: Name of a registered schema (see `honesty_evals.integrity.schemas`).
        workers: Processes parsing records; default one per core for files of 64 MiB or
            more, else in-process.
        progress: Called with each number of bytes hashed.
        memo: Reuse (and store) the record checks of a large file whose exact bytes were
            checked before, keyed by the SHA-256 computed in this call.
    """
    path = Path(path)
    get_schema(schema)  # unknown names fail here, not in a worker
    if is_table(path):
        scan = scan_table(path, schema)
        if progress is not None:
            progress(scan.size)
        return scan
    size = path.stat().st_size
    if workers is None:
        workers = usable_cores() if size >= PARALLEL_MIN_BYTES else 1
    workers = max(1, min(workers, 16, size))
    if workers == 1:
        hasher = hashlib.sha256()
        chunks = [_scan_range(path, 0, size, schema, hasher=hasher, progress=progress)]
        sha256 = hasher.hexdigest()
    else:
        lookup = _memo_lookup(schema, size) if memo else None
        sha256, outcome = _scan_parallel(path, size, schema, workers, progress, lookup)
        if isinstance(outcome, FileScan):
            return outcome
        chunks = outcome
    lines, records, labels, label_lines, problems, counts = _merge(chunks)
    duplicates, n_duplicates = _duplicates(path, chunks)
    if n_duplicates:
        problems.extend(duplicates)
        counts["duplicate"] = n_duplicates
    problems.sort(key=lambda p: p.line)
    scan = FileScan(
        sha256=sha256,
        size=size,
        lines=lines,
        records=records,
        labels=dict(sorted(labels.items())),
        label_lines=label_lines,
        problems=problems,
        problem_counts=counts,
        has_cr=any(c.has_cr for c in chunks),
        ends_with_newline=not chunks[-1].last_line_unterminated,
    )
    if memo and workers > 1:
        _memo_store(scan, schema)
    return scan


def is_table(path: Path) -> bool:
    """Whether `path` is read as a table (a folder, or a Parquet file), not as JSONL lines."""
    from honesty_evals.common.records import PARQUET_SUFFIXES

    return path.is_dir() or path.suffix.lower() in PARQUET_SUFFIXES


def _canonical(row: Any) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)


def scan_table(path: Path, schema: str, what: str = "data") -> FileScan:
    """The digest and record checks of a Parquet file or a `save_to_disk` folder.

    Its rows are read through `datasets` (`common.records`); an unreadable table is one
    UserInputError. Numbers are rows, counted from 0; a duplicate is a row with the same
    values as an earlier one.
    """
    from honesty_evals.common.records import data_sha256, data_size, read_table_rows

    inspect = get_schema(schema).inspector
    rows = read_table_rows(path, what)
    scanner = _ChunkScanner(schema)
    first_at: dict[str, int] = {}
    for number, row in enumerate(rows):
        bad, label = inspect(row)
        if bad:
            scanner.problem(number, "schema", bad)
        elif label is not None:
            count = scanner.result.labels.get(label, 0)
            scanner.result.labels[label] = count + 1
            if count < LABEL_LINES_KEPT:
                scanner.result.label_lines.setdefault(label, []).append(number)
        first = first_at.setdefault(_canonical(row), number)
        if first != number:
            scanner.problem(
                number, "duplicate", f"duplicate record: the same values as row {first}"
            )
    result = scanner.result
    return FileScan(
        sha256=data_sha256(path),
        size=data_size(path),
        lines=len(rows),
        records=len(rows),
        labels=dict(sorted(result.labels.items())),
        label_lines=result.label_lines,
        problems=[LineProblem(*p) for p in result.problems],
        problem_counts=result.problem_counts,
        has_cr=False,
        ends_with_newline=True,
        unit="row",
    )


def sha256_with_lf_endings(path: Path | str) -> str:
    """SHA-256 of the file with every CRLF turned into LF: does it match but for endings?"""
    hasher = hashlib.sha256()
    carry = b""
    for block in _iter_blocks(Path(path), 0, Path(path).stat().st_size):
        data = carry + block
        carry = b"\r" if data.endswith(b"\r") else b""
        if carry:
            data = data[:-1]
        hasher.update(data.replace(b"\r\n", b"\n"))
    hasher.update(carry)
    return hasher.hexdigest()
