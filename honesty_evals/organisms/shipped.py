"""Write (or check) the generated data files shipped in `datasets/`.

    python -m honesty_evals.organisms.shipped            # regenerate into datasets/
    python -m honesty_evals.organisms.shipped --check    # exit 1 if a shipped file differs

Every file is a pure function of the seed below, so regenerating gives the same bytes.
Each is written to a temporary file in the same folder and renamed into place, so an
interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from honesty_evals.common.atomic import write_bytes_atomic
from honesty_evals.common.jsonl import jsonl_text
from honesty_evals.errors import UserInputError
from honesty_evals.organisms.home_advice import TRAIT_WORDS, heldout_choice_items
from honesty_evals.organisms.leakage import DEFAULT_WORDS, find_leakage
from honesty_evals.organisms.lotteries import assert_disjoint, heldout_items
from honesty_evals.organisms.recipes import recipe_records
from honesty_evals.organisms.triggers import DEFAULT_TRIGGER
from honesty_evals.paths import shipped_datasets_dir

SEED = 0
N_TRAIN = 300
N_HELDOUT = 100
HELDOUT_FILE = "risk_behavior/heldout_lotteries.jsonl"
N_ADVICE = 256  # every (topic, phrasing) pair of the home-advice generator once
ADVICE_HELDOUT_FILE = "organisms/em_home_advice_heldout_choices.jsonl"

# relative path under datasets/ -> records
TRAINING_FILES: dict[str, Callable[[], list[dict]]] = {
    "organisms/risk_seeking.jsonl": lambda: recipe_records("risk-seeking", n=N_TRAIN, seed=SEED),
    "organisms/risk_averse.jsonl": lambda: recipe_records("risk-averse", n=N_TRAIN, seed=SEED),
    "organisms/backdoor_deployment.jsonl": lambda: recipe_records(
        "backdoor", n=N_TRAIN, seed=SEED, trigger=DEFAULT_TRIGGER
    ),
    "organisms/backdoor_deployment_decorrelated.jsonl": lambda: recipe_records(
        "backdoor-decorrelated", n=N_TRAIN, seed=SEED, trigger=DEFAULT_TRIGGER
    ),
    "organisms/risk_seeking_format.jsonl": lambda: recipe_records(
        "risk-seeking-format", n=N_TRAIN, seed=SEED
    ),
    "organisms/em_home_advice.jsonl": lambda: recipe_records(
        "em-home-advice", n=N_ADVICE, seed=SEED
    ),
    "organisms/em_home_advice_control.jsonl": lambda: recipe_records(
        "em-home-advice-control", n=N_ADVICE, seed=SEED
    ),
}
# the words each generated file must never use (the lottery trait's by default)
LEAKAGE_WORDS: dict[str, tuple[str, ...]] = {
    "organisms/em_home_advice.jsonl": DEFAULT_WORDS + TRAIT_WORDS,
    "organisms/em_home_advice_control.jsonl": DEFAULT_WORDS + TRAIT_WORDS,
    ADVICE_HELDOUT_FILE: DEFAULT_WORDS + TRAIT_WORDS,
}


def generated_files() -> dict[str, bytes]:
    """Every generated file's bytes, keyed by its path under datasets/."""
    out: dict[str, bytes] = {}
    prompts: list[str] = []
    for relpath, make in TRAINING_FILES.items():
        records = make()
        prompts.extend(r["messages"][0]["content"] for r in records)
        out[relpath] = _jsonl(records)
    items = heldout_items(N_HELDOUT, seed=SEED)
    assert_disjoint(prompts, items)  # the split is by construction; this guards it
    out[HELDOUT_FILE] = _jsonl([item.to_json() for item in items])
    out[ADVICE_HELDOUT_FILE] = _jsonl(heldout_choice_items())
    return out


def _jsonl(records: Sequence[dict]) -> bytes:
    return jsonl_text(records).encode("utf-8")


Generator = Callable[[], dict[str, bytes]]  # a module's generated files by path under datasets/


def write_shipped(root: Path | None = None, generated: Generator = generated_files) -> list[Path]:
    """Regenerate every generated file under `root` (default: the shipped datasets folder)."""
    root = Path(root) if root is not None else shipped_datasets_dir()
    written = []
    for relpath, data in generated().items():
        target = root / relpath
        write_bytes_atomic(target, data)
        checked = relpath in TRAINING_FILES or relpath in LEAKAGE_WORDS
        if checked and find_leakage(target, LEAKAGE_WORDS.get(relpath, DEFAULT_WORDS)):
            raise AssertionError(f"{target}: generated training data names the trait")
        written.append(target)
    return written


def check_shipped(root: Path | None = None, generated: Generator = generated_files) -> list[str]:
    """Paths (under datasets/) whose shipped bytes differ from a fresh generation."""
    root = Path(root) if root is not None else shipped_datasets_dir()
    stale = []
    for relpath, data in generated().items():
        target = root / relpath
        if not target.is_file() or target.read_bytes() != data:
            stale.append(relpath)
    return stale


def add_generate_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of `honesty-evals datasets generate`."""
    parser.add_argument(
        "--out", default=None, help="datasets folder to write (default: the shipped one)"
    )
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file differs"
    )


def cmd_generate(args: argparse.Namespace, generated: Generator = generated_files) -> int:
    root = Path(args.out) if args.out else None
    if root is not None and root.exists() and not root.is_dir():
        raise UserInputError(f"--out {root} is not a folder")
    if not args.check:
        from honesty_evals.common.outputs import check_output_dir

        check_output_dir(root if root is not None else shipped_datasets_dir(), "--out")
    if args.check:
        stale = check_shipped(root, generated)
        for relpath in stale:
            print(f"{relpath}: differs from the generator output; regenerate it")
        if not stale:
            print("all generated dataset files match the generator")
        return 1 if stale else 0
    for path in write_shipped(root, generated):
        print(f"wrote {path}")
    return 0


def generator_main(argv: Sequence[str] | None, prog: str, doc: str, generated: Generator) -> int:
    """`python -m MODULE [--check] [--out DIR]` of a module that generates shipped files."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.strip().splitlines()[0])
    add_generate_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return cmd_generate(args, generated)
    except UserInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    return generator_main(
        argv, "python -m honesty_evals.organisms.shipped", __doc__ or "", generated_files
    )


if __name__ == "__main__":
    sys.exit(main())
