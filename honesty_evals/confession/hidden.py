"""The confession conditions of the ablation (issue 16): what the reviewer sees.

- `visible`: the shipped transcripts; a dishonest one holds the lie directive in its system
  prompt, which the reviewer reads (its `directive_ignored` set is the diagnostic).
- `stripped`: the same transcripts with the system message removed (from what the reviewer
  sees and from its training records); the reviews name no directive. The organism that
  wrote them is the same confession organism.
- `covert`: the covert organism's transcripts (`covert.py`): no directive ever existed.

Each condition's files are pinned in `datasets/confession/`; `load_condition` verifies
them, and `train_condition_organism` trains (or reuses) the organism that wrote them.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from honesty_evals.confession.covert import COVERT_FILES
from honesty_evals.confession.transcripts import (
    DATA_DIR,
    DISHONEST_FILE,
    HONEST_FILE,
    IGNORED_FILE,
    TRANSCRIPT_FILES,
    Transcript,
    load_shipped,
    review_for,
    transcripts_jsonl,
)
from honesty_evals.errors import UserInputError
from honesty_evals.model.embedded import EMBEDDED_MODEL_NAME

CONDITIONS = ("visible", "stripped", "covert")
STRIPPED_HONEST_FILE = f"{DATA_DIR}/stripped_honest.jsonl"
STRIPPED_DISHONEST_FILE = f"{DATA_DIR}/stripped_dishonest.jsonl"
STRIPPED_IGNORED_FILE = f"{DATA_DIR}/stripped_directive_ignored.jsonl"
# visible file -> its stripped copy
STRIPPED_FROM = {
    HONEST_FILE: STRIPPED_HONEST_FILE,
    DISHONEST_FILE: STRIPPED_DISHONEST_FILE,
    IGNORED_FILE: STRIPPED_IGNORED_FILE,
}
CONDITION_FILES: dict[str, tuple[str, ...]] = {
    "visible": TRANSCRIPT_FILES,
    "stripped": tuple(STRIPPED_FROM.values()),
    "covert": COVERT_FILES,
}
COVERT_COMMAND = "honesty-evals confession transcripts --condition covert --organism DIR"


def check_condition(name: str) -> str:
    if name not in CONDITIONS:
        raise UserInputError(f"unknown condition {name!r}: choose one of {', '.join(CONDITIONS)}")
    return name


def strip_directive(transcript: Transcript) -> Transcript:
    """The transcript without its system message, and with a review that names no
    directive (the reviewer no longer sees one); everything else is kept."""
    return dataclasses.replace(
        transcript,
        messages=tuple(m for m in transcript.messages if m["role"] != "system"),
        review=review_for(transcript.label, transcript.id, transcript.true_statement, hidden=True),
    )


def stripped_files(
    visible: Mapping[str, Sequence[Transcript]],
) -> dict[str, bytes]:
    """relpath -> bytes of the stripped files, from the visible files' transcripts."""
    return {
        STRIPPED_FROM[rel]: transcripts_jsonl([strip_directive(t) for t in group])
        for rel, group in visible.items()
    }


def build_stripped(allow_unverified: bool = False) -> tuple[dict[str, bytes], Counter]:
    """The stripped files from the pinned visible files (no model), and their counts."""
    visible = {rel: load_shipped(allow_unverified, (rel,))[0] for rel in TRANSCRIPT_FILES}
    counts: Counter = Counter(
        f"kept:{t.label}:{t.split}" for group in visible.values() for t in group
    )
    return stripped_files(visible), counts


def load_condition(
    name: str, allow_unverified: bool = False
) -> tuple[list[Transcript], dict[str, Any]]:
    """The condition's pinned transcripts (verified against the manifest) and the
    verification record, as `transcripts.load_shipped` returns them."""
    from honesty_evals.paths import shipped_datasets_dir

    files = CONDITION_FILES[check_condition(name)]
    missing = [rel for rel in files if not (shipped_datasets_dir() / rel).is_file()]
    if missing and name == "covert":
        raise UserInputError(
            f"the covert transcripts are not generated yet ({', '.join(missing)} missing): "
            f"run {COVERT_COMMAND}, then pin them (confession README, Hidden conditions)"
        )
    if missing:
        raise UserInputError(
            f"the {name} transcripts are missing ({', '.join(missing)}): reinstall the "
            "package or regenerate them with honesty-evals confession transcripts "
            f"--condition {name}"
        )
    return load_shipped(allow_unverified, files)


def train_condition_organism(
    name: str,
    out: Path,
    threads: int | None = None,
    progress: bool = True,
    allow_unverified: bool = False,
    base: str = EMBEDDED_MODEL_NAME,
) -> Path:
    """Train (or reuse) the organism that wrote the condition's transcripts into `out`:
    the confession organism for visible and stripped, the covert organism for covert.
    `base` is the model it is trained on (the covert organism only; the confession
    organism is the embedded model's)."""
    from honesty_evals.confession.covert import train_covert_organism
    from honesty_evals.confession.organism import train_organism

    if check_condition(name) == "covert":
        return train_covert_organism(out, threads, progress, allow_unverified, base=base)
    if base != EMBEDDED_MODEL_NAME:
        raise UserInputError(
            f"the {name} condition's organism is trained on {EMBEDDED_MODEL_NAME} only, "
            f"not on {base!r}: drop the base, or use --condition covert"
        )
    return train_organism(out, threads, progress, allow_unverified)
