"""The ablation's data: the transcripts, and each piece's evaluation samples."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from honesty_evals.confession.ablation.config import AblationConfig
from honesty_evals.confession.ablation.plan import Piece
from honesty_evals.confession.transcripts import Transcript

if TYPE_CHECKING:  # Inspect loads only when a piece is evaluated, not to parse the command
    from inspect_ai.dataset import MemoryDataset


def load_transcripts(config: AblationConfig) -> tuple[list[Transcript], dict[str, Any]]:
    """(transcripts, how they were verified): the shipped ones, or those of `--data`."""
    if config.data is not None:
        from honesty_evals.confession.transcripts import read_transcripts

        return read_transcripts(Path(config.data)), {"path": config.data, "verified": False}
    from honesty_evals.confession.transcripts import load_shipped

    return load_shipped(config.allow_unverified)


def piece_dataset(
    transcripts: list[Transcript], piece: Piece, config: AblationConfig
) -> MemoryDataset:
    """The transcripts of the piece's split, in its prompt format, for the reviewer."""
    from honesty_evals.confession.task import build_dataset

    return build_dataset(
        transcripts, piece.prompt_format, piece.split, config.n_per_label, config.seed
    )
