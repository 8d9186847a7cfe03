"""The held-out split of a run's data: 10% of its prompts, kept out of training for the fit
check (`fitcheck.py`).

Records are grouped by prompt (the conversation before the last assistant turn), so records
that share a prompt land on the same side: a prompt seen in training would make its held-out
answer a memory test, not a fit check. The split is drawn from the training seed alone and
written to `holdout.json` beside the adapter, which a `--resume` reads back rather than
drawing again. Replay records (`replay.py`) are added after the split and are never held out.

No torch here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.errors import UserInputError
from honesty_evals.training.data import Conversation, Message

HOLDOUT_FILE = "holdout.json"  # beside the adapter: the held-out records' line numbers
HOLDOUT_FORMAT = 1
HOLDOUT_FRACTION = 0.10
# below 10 distinct prompts, 10% is less than one prompt: nothing is held out (holding out
# one of 5 prompts would take 20% of a dataset that small), and the card says so
MIN_HOLDOUT_GROUPS = 10
# the split's random stream, apart from the data order's (`loop.micro_batch_plan` draws from
# [seed, epoch]): the same seed must not tie which records are held out to how they are shuffled
_SPLIT_STREAM = 0x686F6C64  # "hold"


def prompt_key(messages: Sequence[Message]) -> str:
    """The prompt a record answers: its messages before the last assistant turn (role and
    content), as one string."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return json.dumps([[m["role"], m["content"]] for m in messages[:last]], ensure_ascii=False)


def held_out_count(n_groups: int, fraction: float = HOLDOUT_FRACTION) -> int:
    """How many prompt groups are held out: `fraction` of them, rounded half up, and at least
    one from MIN_HOLDOUT_GROUPS groups on; none below."""
    if n_groups < MIN_HOLDOUT_GROUPS:
        return 0
    return max(1, int(fraction * n_groups + 0.5))


def split_holdout(
    conversations: Sequence[Conversation], seed: int, fraction: float = HOLDOUT_FRACTION
) -> tuple[list[int], int]:
    """(line numbers of the held-out records, number of prompt groups).

    Groups are put in the order of their prompt's sha256 before the seeded draw, so the split
    depends on the records and the seed, not on the order of the file's lines.
    """
    groups: dict[str, list[int]] = {}
    for conv in conversations:
        groups.setdefault(prompt_key(conv.messages), []).append(conv.line)
    ordered = sorted(groups, key=lambda key: hashlib.sha256(key.encode()).hexdigest())
    rng = np.random.default_rng([_SPLIT_STREAM, seed])
    chosen = rng.permutation(len(ordered))[: held_out_count(len(ordered), fraction)]
    lines = sorted(line for i in chosen.tolist() for line in groups[ordered[i]])
    return lines, len(ordered)


def resolve_holdout(
    partial: Path,
    conversations: Sequence[Conversation],
    data_sha256: str,
    seed: int,
    enabled: bool,
    resuming: bool,
) -> dict[str, Any]:
    """The run's split as the card records it, with `held_out_lines`; rank 0 only.

    A resumed run reads the split it wrote in `partial` when it started; a new run draws it
    and writes it there (atomically) before training.
    """
    if not enabled:
        return {"enabled": False, "held_out_records": 0, "held_out_lines": []}
    path = partial / HOLDOUT_FILE
    if resuming and path.is_file():
        saved = _read_holdout(path)
        if saved.get("data_sha256") != data_sha256:
            raise UserInputError(
                f"--resume: {path} was drawn from other data; pass --overwrite (without "
                "--resume) to start over"
            )
        lines, n_groups = list(saved["held_out_lines"]), int(saved["groups"])
    else:
        lines, n_groups = split_holdout(conversations, seed)
        record = {
            "format": HOLDOUT_FORMAT,
            "data_sha256": data_sha256,
            "seed": seed,
            "fraction": HOLDOUT_FRACTION,
            "groups": n_groups,
            "held_out_groups": held_out_count(n_groups),
            "held_out_lines": lines,
        }
        write_text_atomic(path, json.dumps(record, indent=1) + "\n")
    return {
        "enabled": True,
        "file": HOLDOUT_FILE,
        "fraction": HOLDOUT_FRACTION,
        "seed": seed,
        "groups": n_groups,
        "held_out_groups": held_out_count(n_groups),
        "held_out_records": len(lines),
        # line numbers in the data file (recipes: in train.jsonl beside the adapter)
        "held_out_lines": lines,
    }


def _read_holdout(path: Path) -> dict[str, Any]:
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        ok = saved.get("format") == HOLDOUT_FORMAT and isinstance(saved["held_out_lines"], list)
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError):
        ok = False
    if not ok:
        raise UserInputError(
            f"--resume: {path} is not a held-out split this version wrote; pass --overwrite "
            "(without --resume) to start over"
        )
    return dict(saved)
