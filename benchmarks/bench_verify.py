"""Benchmark: `datasets verify` throughput against coreutils `sha256sum`, in the same run.

Writes a ~1 GB labelled chat JSONL (unique records, seeded), pins it, then alternates timed
runs of `sha256sum FILE` and of verification in its two states:

- warm: the bytes (by the SHA-256 computed in the run) were record-checked before, by `pin`
  or an earlier verify, so verification is one hashing pass plus the memo lookup;
- cold (`--no-cache`): SHA-256 plus every record-level check again (UTF-8, JSON, schema,
  labels against the role, duplicates), parsed on every core.

The page cache is warmed first so all read from memory. Goal: verify throughput >= 0.9 x
sha256sum throughput.

    python benchmarks/bench_verify.py [--gb 1.0] [--repeats 3] [--dir DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from honesty_evals.integrity.pin import pin_file
from honesty_evals.integrity.verify import verify_directory

WORDS = (
    "the a of to and in that is was for it with as on be at by this had not are but from or "
    "have an they which one you were all there would their we been has when who will more if "
    "out so said what up its about into than them can only other new some could time these"
).split()


def write_dataset(path: Path, target_bytes: int, seed: int = 0) -> int:
    """Unique chat records with an honest label until the file reaches `target_bytes`."""
    rng = random.Random(seed)
    fragments = [" ".join(rng.choices(WORDS, k=12)) for _ in range(4096)]
    written = records = 0
    with path.open("w", encoding="utf-8") as f:
        while written < target_bytes:
            batch = []
            for _ in range(10_000):
                i = records
                record = {
                    "messages": [
                        {"role": "system", "content": fragments[i % 4093]},
                        {"role": "user", "content": f"Question {i}: {fragments[i % 4091]}?"},
                        {"role": "assistant", "content": fragments[(i * 7) % 4096]},
                    ],
                    "metadata": {"label": "honest", "id": i},
                }
                batch.append(json.dumps(record) + "\n")
                records += 1
            text = "".join(batch)
            f.write(text)
            written += len(text)
    return records


def time_sha256sum(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run(["sha256sum", str(path)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def time_verify(directory: Path, memo: bool) -> float:
    start = time.perf_counter()
    report = verify_directory(directory, memo=memo)
    seconds = time.perf_counter() - start
    if not report.ok:
        raise SystemExit(f"verification failed: {report.errors[0].message}")
    return seconds


def time_cli(directory: Path) -> float:
    """The whole command, Python start-up and imports included."""
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "honesty_evals.cli", "datasets", "verify", str(directory)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="file size in GB (1e9 bytes)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", help="work directory (default: a temporary one, removed)")
    parser.add_argument("--out", help="write the results as JSON here")
    args = parser.parse_args()
    if shutil.which("sha256sum") is None:
        raise SystemExit("coreutils sha256sum is not on PATH")

    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-verify-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "big_honest.jsonl"
    try:
        if not data.exists() or data.stat().st_size < args.gb * 1e9:
            start = time.perf_counter()
            n = write_dataset(data, int(args.gb * 1e9))
            print(
                f"wrote {data} ({data.stat().st_size / 1e9:.2f} GB, {n:,} records) in "
                f"{time.perf_counter() - start:.1f} s"
            )
        (work / "manifest.json").unlink(missing_ok=True)
        start = time.perf_counter()
        pin_file(data, "honest", directory=work)
        pin_seconds = time.perf_counter() - start
        size = data.stat().st_size
        time_sha256sum(data)  # warm the page cache
        sha_times: list[float] = []
        times: dict[str, list[float]] = {"warm": [], "cold": []}
        for _ in range(args.repeats):
            sha_times.append(time_sha256sum(data))
            times["warm"].append(time_verify(work, memo=True))
            times["cold"].append(time_verify(work, memo=False))
        cli_seconds = time_cli(work)
        sha_median = statistics.median(sha_times)
        results = {
            "bytes": size,
            "cpu_count": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "sha256sum_seconds": sha_times,
            "sha256sum_MBps": size / sha_median / 1e6,
            "pin_seconds": pin_seconds,
            "cli_warm_seconds": cli_seconds,
        }
        print(
            f"{size / 1e9:.2f} GB, {os.cpu_count()} cores: sha256sum median {sha_median:.2f} s "
            f"({results['sha256sum_MBps']:.0f} MB/s); pin {pin_seconds:.2f} s; whole warm CLI "
            f"incl. Python start-up {cli_seconds:.2f} s"
        )
        for state, runs in times.items():
            median = statistics.median(runs)
            results[f"verify_{state}_seconds"] = runs
            results[f"verify_{state}_MBps"] = size / median / 1e6
            results[f"ratio_{state}"] = sha_median / median
            print(
                f"  verify {state}: median {median:.2f} s ({size / median / 1e6:.0f} MB/s), "
                f"throughput ratio to sha256sum {sha_median / median:.2f} (goal >= 0.90)"
            )
        if args.out:
            Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
