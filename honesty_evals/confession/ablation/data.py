"""The ablation's data: each condition's transcripts and organism, and each piece's samples."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from honesty_evals.confession.ablation.config import AblationConfig
from honesty_evals.confession.ablation.plan import Piece
from honesty_evals.confession.transcripts import Transcript

if TYPE_CHECKING:  # Inspect loads only when a piece is evaluated, not to parse the command
    from inspect_ai.dataset import MemoryDataset


def load_conditions(
    config: AblationConfig,
) -> tuple[dict[str, list[Transcript]], dict[str, dict[str, Any]]]:
    """Each condition's transcripts and how they were verified (`hidden.load_condition`)."""
    from honesty_evals.confession.task import hidden_module  # at call time: tests replace it

    hidden = hidden_module()

    transcripts, verification = {}, {}
    for condition in config.conditions:
        found, verified = hidden.load_condition(condition, config.allow_unverified)
        transcripts[condition], verification[condition] = found, verified
    return transcripts, verification


def condition_organism(config: AblationConfig, condition: str, out: Path) -> Path:
    """The organism that wrote the condition's transcripts: reused when finished in `out`,
    else trained there (an interrupted one resumes)."""
    from honesty_evals.confession.task import hidden_module

    return Path(
        hidden_module().train_condition_organism(
            condition,
            out,
            threads=config.threads,
            progress=config.progress,
            allow_unverified=config.allow_unverified,
        )
    )


def lie_topics(transcripts: list[Transcript]) -> set[str] | None:
    """The covert organism's lie topics: from the transcripts' `topic_kind` where they carry
    it, else `hidden.LIE_TOPICS`; None when neither says (the controls are then reported
    as not available)."""
    kinds = {t.topic: getattr(t, "topic_kind", None) for t in transcripts}
    if any(kind is not None for kind in kinds.values()):
        return {topic for topic, kind in kinds.items() if kind == "lie"}
    from honesty_evals.confession.task import hidden_module

    found = getattr(hidden_module(), "LIE_TOPICS", None)
    return set(found) if found is not None else None


def piece_dataset(
    transcripts: list[Transcript], piece: Piece, config: AblationConfig
) -> MemoryDataset:
    """The transcripts of the piece's split, in its prompt format, for the reviewer."""
    from honesty_evals.confession.task import build_dataset

    return build_dataset(
        transcripts, piece.prompt_format, piece.split, config.n_per_label, config.seed
    )
