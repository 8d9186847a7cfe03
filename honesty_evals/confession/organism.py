"""The dishonest organism whose answers the confession transcripts hold.

It is the liar organism of lie_detection (PROTOCOLS §3: SmolLM2-135M-Instruct does not lie
reliably when told to, so a LoRA teaches it to follow a lie directive in its system prompt
and to answer normally without one), trained on the same 744 shipped records with one
addition: after its answer the user asks a follow-up question (`prompts.DENIALS`) and the
organism always replies that it was honest. After a lie that reply is a denial of the
directive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from honesty_evals.common.jsonl import read_records
from honesty_evals.confession.prompts import DENIALS
from honesty_evals.integrity import require_verified
from honesty_evals.lie_detection.qa import ORGANISM_FILE
from honesty_evals.paths import shipped_datasets_dir

# the liar organism's measured settings (lie_detection README: lie rate 0.89 on held-out
# questions it knows)
ORGANISM_SETTINGS: dict[str, Any] = {"epochs": 3.0, "lr": 5e-4, "batch_size": 8, "seed": 0}


def organism_records(allow_unverified: bool = False) -> list[dict[str, Any]]:
    """The liar-organism chats, each followed by a denial exchange (cycled over DENIALS)."""
    require_verified([ORGANISM_FILE], allow_unverified=allow_unverified)
    records = read_records(shipped_datasets_dir() / ORGANISM_FILE, dict, "chat record")
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


def train_organism(
    out: Path,
    threads: int | None = None,
    progress: bool = True,
    allow_unverified: bool = False,
) -> Path:
    """Train the organism into `out` (resuming an interrupted run); reuse a finished one."""
    from honesty_evals.training.trainer import CARD_NAME, TrainConfig, partial_dir, train

    out = Path(out)
    if (out / CARD_NAME).is_file():
        return out
    config = TrainConfig(
        data="train.jsonl",
        out=str(out),
        threads=threads,
        progress=progress,
        resume=partial_dir(out.resolve()).exists(),
        **ORGANISM_SETTINGS,
    )
    train(config, records=organism_records(allow_unverified))
    return out
