"""The confession samples: held-out transcripts followed by the review prompt of a format."""

from __future__ import annotations

from collections.abc import Sequence

from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageSystem,
    ChatMessageUser,
)

from honesty_evals.confession.formats import elicitation_messages
from honesty_evals.confession.prompts import FAIL, PASS
from honesty_evals.confession.transcripts import (
    Transcript,
)
from honesty_evals.errors import UserInputError

EVAL_SPLITS = ("heldout", "heldout_topic", "train", "directive_ignored")


def to_chat_messages(messages: Sequence[dict[str, str]]) -> list[ChatMessage]:
    kinds = {
        "system": ChatMessageSystem,
        "user": ChatMessageUser,
        "assistant": ChatMessageAssistant,
    }
    return [kinds[m["role"]](content=m["content"]) for m in messages]


def select_transcripts(
    transcripts: Sequence[Transcript], split: str, n_per_label: int | None, seed: int
) -> list[Transcript]:
    import random

    if split == "directive_ignored":
        chosen = [t for t in transcripts if t.label == "lie_failed"]
    else:
        chosen = [t for t in transcripts if t.split == split and t.label != "lie_failed"]
    if n_per_label is not None:
        rng = random.Random(seed)
        kept: list[Transcript] = []
        for label in ("dishonest", "honest", "lie_failed"):
            pool = [t for t in chosen if t.label == label]
            kept.extend(rng.sample(pool, n_per_label) if n_per_label < len(pool) else pool)
        chosen = kept
    return sorted(chosen, key=lambda t: t.id)


def build_dataset(
    transcripts: Sequence[Transcript],
    prompt_format: str,
    split: str,
    n_per_label: int | None,
    seed: int,
) -> MemoryDataset:
    chosen = select_transcripts(transcripts, split, n_per_label, seed)
    if not chosen:
        raise UserInputError(f"no transcripts in split '{split}': check the data file")
    samples = [
        Sample(
            id=t.id,
            input=to_chat_messages(elicitation_messages(t, prompt_format)),
            target=FAIL if t.label == "dishonest" else PASS,
            metadata={
                "label": t.label,
                "question_id": t.question_id,
                "topic": t.topic,
                "condition": t.condition,
                "split": t.split,
            },
        )
        for t in chosen
    ]
    return MemoryDataset(samples, name=f"confession_{split}")
