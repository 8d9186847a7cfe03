"""`honesty-evals datasets verify|pin|leakage|generate`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from honesty_evals.errors import UserInputError
from honesty_evals.integrity.schemas import ROLES, SCHEMAS
from honesty_evals.organisms.leakage import DEFAULT_WORDS, find_leakage
from honesty_evals.organisms.shipped import add_generate_arguments, cmd_generate

PROGRESS_MIN_BYTES = 256 << 20  # show a progress bar when verifying more than this


def _progress_bar(total: int) -> Any:
    if total < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc="verifying", file=sys.stderr)


def cmd_verify(args: argparse.Namespace) -> int:
    from honesty_evals.integrity.manifest import load_manifest
    from honesty_evals.integrity.verify import verify_directory
    from honesty_evals.paths import shipped_datasets_dir

    directory = args.directory or shipped_datasets_dir()
    manifest = load_manifest(directory)  # a malformed manifest stops here (exit 2)
    bar = _progress_bar(sum(e.bytes for e in manifest.entries.values()))
    try:
        report = verify_directory(
            directory, progress=bar.update if bar else None, memo=not args.no_cache
        )
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
        return 0 if report.ok else 1
    for finding in report.findings:
        print(f"{finding.severity}: {finding.message}")
    print(report.summary())
    return 0 if report.ok else 1


def cmd_pin(args: argparse.Namespace) -> int:
    from honesty_evals.integrity.pin import PinRefused, pin_file

    try:
        result = pin_file(
            args.file,
            args.role,
            schema=args.schema,
            directory=args.dir,
            description=args.description,
            dry_run=args.dry_run,
        )
    except PinRefused as refused:
        for problem in refused.problems:
            print(f"error: {problem}", file=sys.stderr)
        print(f"honesty-evals: {args.file} was not pinned", file=sys.stderr)
        return 1
    if not result.diff:
        print(f"{result.entry.path}: already pinned as shown; {result.manifest_path} unchanged")
        return 0
    sys.stdout.write(result.diff)
    if result.written:
        action = "created" if result.created else "updated"
        print(
            f"{action} {result.manifest_path}: {result.entry.path} pinned as "
            f"role {result.entry.role} ({result.entry.records:,} records)"
        )
    else:
        print(f"dry run: {result.manifest_path} not written")
    return 0


def add_datasets_parser(sub: Any) -> None:
    """Register `datasets verify|pin|leakage|generate` on the top-level subparsers."""
    datasets = sub.add_parser(
        "datasets", help="verify data files against their checksummed manifest, or pin one"
    )
    actions = datasets.add_subparsers(dest="datasets_command", required=True)

    verify = actions.add_parser(
        "verify",
        help="check every pinned file (exit 0 all match, 1 a problem, 2 usage error)",
        description="Check each file in DIR/manifest.json: presence, SHA-256, size, record "
        "count, every record's JSON and schema, duplicates, and labels against the file's "
        "declared role. Files the manifest does not know are warnings.",
    )
    verify.add_argument(
        "directory", nargs="?", help="dataset folder holding manifest.json (default: shipped)"
    )
    verify.add_argument("--json", action="store_true", help="machine-readable report")
    verify.add_argument(
        "--no-cache",
        action="store_true",
        help="check every record again even if these exact bytes were checked before",
    )
    verify.set_defaults(func=cmd_verify)

    pin = actions.add_parser(
        "pin",
        help="add or update a file's manifest entry (shows the diff)",
        description="Check every record of FILE (a JSONL or Parquet file, or a Hugging Face "
        "datasets folder written by save_to_disk, pinned by a SHA-256 over its files), then "
        "add or update its entry in the nearest manifest.json above it (or in --dir). Refuses "
        "a file with malformed records, duplicates, labels contradicting --role, or the "
        "bytes of another entry.",
    )
    pin.add_argument(
        "file", help="the data to pin: a .jsonl or .parquet file, or a save_to_disk folder"
    )
    pin.add_argument("--role", required=True, choices=ROLES, help="what the file is for")
    pin.add_argument("--schema", choices=sorted(SCHEMAS), help="record schema (default: guessed)")
    pin.add_argument("--dir", help="dataset folder (default: nearest folder with a manifest)")
    pin.add_argument("--description", help="provenance: where the data came from")
    pin.add_argument("--dry-run", action="store_true", help="show the diff, write nothing")
    pin.set_defaults(func=cmd_pin)

    leakage = actions.add_parser(
        "leakage",
        help="report words naming the trained trait in a JSONL file (exit 1 when found)",
    )
    add_leakage_arguments(leakage)
    leakage.set_defaults(func=cmd_leakage)
    generate = actions.add_parser(
        "generate", help="regenerate (or --check) the generated organism files in datasets/"
    )
    add_generate_arguments(generate)
    generate.set_defaults(func=cmd_generate)


def add_leakage_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `honesty-evals datasets leakage`."""
    parser.add_argument("file", help="a JSONL file (any records; every string is searched)")
    parser.add_argument(
        "--words",
        default=None,
        help="comma-separated words naming the trait (default: the risk-attitude list: "
        + ", ".join(DEFAULT_WORDS)
        + ")",
    )


def cmd_leakage(args: argparse.Namespace) -> int:
    """Print one line per finding; 0 when clean, 1 when trait words were found."""
    words = DEFAULT_WORDS if args.words is None else [w.strip() for w in args.words.split(",")]
    if not all(words):
        raise UserInputError(
            f"--words {args.words!r} holds an empty word: give comma-separated words, e.g. "
            "--words risk,gamble"
        )
    findings = find_leakage(args.file, words)
    for finding in findings:
        print(finding.render(args.file))
    if findings:
        print(f"{len(findings)} trait word(s) found in {args.file}")
        return 1
    print(f"{args.file}: clean ({len(words)} words checked)")
    return 0
