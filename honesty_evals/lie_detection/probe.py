"""Data for the white-box probe: instructed contrast pairs, honest controls, logged answers.

PROTOCOLS §3 (Goldowsky-Dill et al. 2025): the probe is trained on contrast pairs, the same
true statement after an honest and after a deceptive instruction, so the only difference is
the intent; it is evaluated on *other* settings (other topics' actual false answers; the
liar organism's own lies with the instruction hidden), and its threshold flags 1% of an
honest control set (ordinary questions answered truthfully, no instruction).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from honesty_evals.lie_detection.dataset import (
    load_instructions,
    load_items,
    parse_topics,
    select_items,
)
from honesty_evals.lie_detection.features import FeatureTable
from honesty_evals.lie_detection.prompts import QUESTION_SUFFIX
from honesty_evals.lie_detection.qa import QAItem

SETTINGS = ("pairs", "instructed-lies", "control")


@dataclass(frozen=True)
class Example:
    messages: list[dict[str, str]]
    label: int  # 1 = deceptive
    question_id: str
    topic: str


def _conversation(system: str | None, item: QAItem, answer: str) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [
        {"role": "user", "content": item.question + QUESTION_SUFFIX},
        {"role": "assistant", "content": answer},
    ]


def build_examples(items: Sequence[QAItem], setting: str, seed: int = 0) -> list[Example]:
    """Labelled conversations for one setting:

    - `pairs`: each item's true statement after a truth instruction (0) and after a lie
      instruction (1): the training contrast pairs;
    - `instructed-lies`: the true statement after a truth instruction (0), the false
      statement after a lie instruction (1);
    - `control`: the true statement with no instruction (0 only).
    """
    if setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}")
    rng = random.Random(seed)
    lie = [text for _, text in load_instructions("lie")]
    truth = [text for _, text in load_instructions("truth")]
    examples = []
    for item in items:
        if setting == "control":
            examples.append(
                Example(_conversation(None, item, item.statement()), 0, item.id, item.topic)
            )
            continue
        honest = _conversation(rng.choice(truth), item, item.statement())
        deceptive_answer = (
            item.statement() if setting == "pairs" else item.statement(item.false_answer)
        )
        deceptive = _conversation(rng.choice(lie), item, deceptive_answer)
        examples.append(Example(honest, 0, item.id, item.topic))
        examples.append(Example(deceptive, 1, item.id, item.topic))
    return examples


def shipped_examples(
    setting: str,
    topics: str | Sequence[str] | None,
    split: str,
    n_per_topic: int | None,
    seed: int = 0,
) -> list[Example]:
    items = select_items(load_items(), parse_topics(topics), split, n_per_topic, seed)
    return build_examples(items, setting, seed=seed)


def log_examples(table: FeatureTable, hide_instruction: bool) -> list[Example]:
    """The model's own logged answers (lie / truth by the lie rule) as probe inputs.

    With `hide_instruction`, the system prompt is dropped: the probe must see the lie in the
    question and answer alone, as an auditor without the prompt would.
    """
    examples = []
    for row, label, qid, topic in zip(table.rows, table.y, table.question_ids, table.topics):
        messages = (
            []
            if hide_instruction or not row["system"]
            else [{"role": "system", "content": row["system"]}]
        )
        messages += [
            {"role": "user", "content": row["user"]},
            {"role": "assistant", "content": row["answer"]},
        ]
        examples.append(Example(messages, int(label), qid, topic))
    return [e for e in examples if e.messages[-1]["content"].strip()]
