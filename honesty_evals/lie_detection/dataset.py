"""Loading the shipped lie-detection files and building the collection task's samples."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser

from honesty_evals.common.jsonl import read_records
from honesty_evals.common.validate import whole_number
from honesty_evals.errors import UserInputError
from honesty_evals.lie_detection.prompts import QUESTION_SUFFIX
from honesty_evals.lie_detection.qa import (
    FOLLOWUPS_FILE,
    LIE_INSTRUCTIONS_FILE,
    QA_FILE,
    TOPICS,
    TRUTH_INSTRUCTIONS_FILE,
    QAItem,
)
from honesty_evals.paths import shipped_datasets_dir

DATA_FILES = [QA_FILE, LIE_INSTRUCTIONS_FILE, TRUTH_INSTRUCTIONS_FILE, FOLLOWUPS_FILE]
SPLITS = ("all", "train", "test")


@dataclass(frozen=True)
class Followup:
    id: str
    kind: str
    question: str


def _data_file(relpath: str, root: Path | None) -> Path:
    return (root or shipped_datasets_dir()) / relpath


def load_items(root: Path | None = None) -> list[QAItem]:
    return read_records(_data_file(QA_FILE, root), QAItem.from_json, "QA record")


def load_instructions(kind: str, root: Path | None = None) -> list[tuple[str, str]]:
    """(id, instruction) pairs for kind "lie" or "truth"."""
    relpath = LIE_INSTRUCTIONS_FILE if kind == "lie" else TRUTH_INSTRUCTIONS_FILE
    return read_records(
        _data_file(relpath, root), lambda r: (r["id"], r["instruction"]), f"{kind} instruction"
    )


def load_followups(root: Path | None = None) -> list[Followup]:
    return read_records(
        _data_file(FOLLOWUPS_FILE, root),
        lambda r: Followup(r["id"], r["kind"], r["question"]),
        "follow-up question",
    )


def parse_topics(topics: str | Sequence[str] | None) -> tuple[str, ...]:
    """Topic names from a comma-separated string or a list; None or "all" means every topic."""
    if topics is None or topics == "all":
        return TOPICS
    names = topics.split(",") if isinstance(topics, str) else list(topics)
    names = [n.strip() for n in names if n.strip()]
    unknown = [n for n in names if n not in TOPICS]
    if unknown or not names:
        raise UserInputError(
            f"unknown topic(s) {', '.join(unknown) or '(none given)'}: choose from "
            f"{', '.join(TOPICS)} (comma-separated), or all"
        )
    return tuple(dict.fromkeys(names))


def select_items(
    items: Sequence[QAItem],
    topics: Sequence[str],
    split: str,
    n_per_topic: int | None,
    seed: int,
) -> list[QAItem]:
    """Up to `n_per_topic` items of each topic in `split`, drawn with `seed`."""
    if split not in SPLITS:
        raise UserInputError(f"unknown split '{split}': choose one of {', '.join(SPLITS)}")
    rng = random.Random(seed)
    chosen = []
    for topic in topics:
        pool = [it for it in items if it.topic == topic and split in ("all", it.split)]
        if n_per_topic is not None and n_per_topic < len(pool):
            pool = sorted(rng.sample(pool, n_per_topic), key=lambda it: it.id)
        chosen.extend(pool)
    return chosen


def build_dataset(
    topics: str | Sequence[str] | None = None,
    split: str = "test",
    n_per_topic: int | None = 20,
    n_instructions: int = 1,
    seed: int = 0,
) -> MemoryDataset:
    """One sample per (item, condition, instruction); conditions "lie" and "truth".

    Each item is asked under `n_instructions` lie instructions and as many truth
    instructions, drawn per item with `seed`, so every instruction is used across items.
    """
    if n_per_topic is not None:
        n_per_topic = whole_number(n_per_topic, "n_per_topic", 1)
    lie = load_instructions("lie")
    truth = load_instructions("truth")
    n_instructions = whole_number(n_instructions, "n_instructions", 1, min(len(lie), len(truth)))
    items = select_items(load_items(), parse_topics(topics), split, n_per_topic, seed)
    rng = random.Random(seed + 1)
    samples = []
    for item in items:
        for condition, pool in (("lie", lie), ("truth", truth)):
            for instruction_id, instruction in rng.sample(pool, n_instructions):
                samples.append(
                    Sample(
                        id=f"{item.id}-{instruction_id}",
                        input=[
                            ChatMessageSystem(content=instruction),
                            ChatMessageUser(content=item.question + QUESTION_SUFFIX),
                        ],
                        target=[item.answer, *item.aliases],
                        metadata={
                            "question_id": item.id,
                            "topic": item.topic,
                            "condition": condition,
                            "instruction_id": instruction_id,
                            "question": item.question,
                            "accepted": list(item.accepted),
                        },
                    )
                )
    return MemoryDataset(samples, name="lie_detection")
