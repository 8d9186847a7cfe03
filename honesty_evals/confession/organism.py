"""The dishonest organism whose answers the confession transcripts hold.

It is the liar organism of lie_detection (PROTOCOLS §3: SmolLM2-135M-Instruct does not lie
reliably when told to, so a LoRA teaches it to follow a lie directive in its system prompt
and to answer normally without one), trained on the same 744 shipped records with one
addition: after its answer the user asks a follow-up question (`prompts.DENIALS`) and the
organism always replies that it was honest. After a lie that reply is a denial of the
directive.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from honesty_evals.common.jsonl import read_records
from honesty_evals.confession.prompts import DENIALS
from honesty_evals.integrity import require_verified
from honesty_evals.lie_detection.qa import ORGANISM_FILE
from honesty_evals.model.embedded import EMBEDDED_MODEL_NAME
from honesty_evals.paths import shipped_datasets_dir

# the liar organism's measured settings (lie_detection README: lie rate 0.89 on held-out
# questions it knows)
ORGANISM_SETTINGS: dict[str, Any] = {"epochs": 3.0, "lr": 5e-4, "batch_size": 8, "seed": 0}


def liar_records(allow_unverified: bool = False) -> list[dict[str, Any]]:
    """The liar organism's shipped training chats (verified against the manifest)."""
    require_verified([ORGANISM_FILE], allow_unverified=allow_unverified)
    return read_records(shipped_datasets_dir() / ORGANISM_FILE, dict, "chat record")


def with_denials(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each chat followed by a denial exchange (cycled over DENIALS)."""
    out = []
    for n, record in enumerate(records):
        question, reply = DENIALS[n % len(DENIALS)]
        messages = [
            *record["messages"],
            {"role": "user", "content": question},
            {"role": "assistant", "content": reply},
        ]
        out.append({"messages": messages, "metadata": record.get("metadata", {})})
    return out


def organism_records(allow_unverified: bool = False) -> list[dict[str, Any]]:
    """The liar-organism chats, each followed by a denial exchange (cycled over DENIALS)."""
    return with_denials(liar_records(allow_unverified))


def train_organism(
    out: Path,
    threads: int | None = None,
    progress: bool = True,
    allow_unverified: bool = False,
) -> Path:
    """Train the organism into `out` (resuming an interrupted run); reuse a finished one."""
    return train_organism_records(
        out, lambda: organism_records(allow_unverified), threads=threads, progress=progress
    )


def train_organism_records(
    out: Path,
    records: Callable[[], list[dict[str, Any]]],
    threads: int | None = None,
    progress: bool = True,
    base: str = EMBEDDED_MODEL_NAME,
) -> Path:
    """Train an organism on `records()` with ORGANISM_SETTINGS over `base` into `out`
    (resuming an interrupted run); reuse a finished one (the records are then not built)."""
    from honesty_evals.training.trainer import CARD_NAME, TrainConfig, partial_dir, train

    out = Path(out)
    if (out / CARD_NAME).is_file():
        return out
    config = TrainConfig(
        data="train.jsonl",
        out=str(out),
        base=base,
        threads=threads,
        progress=progress,
        resume=partial_dir(out.resolve()).exists(),
        **ORGANISM_SETTINGS,
    )
    train(config, records=records())
    return out
