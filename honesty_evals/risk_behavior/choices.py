"""What risk_behavior asks: items, each asked in one or more option orders.

An item is the statistical unit (its orders are averaged first, and it counts only when
every order it was asked in parsed: `common/questions.py`). A `TemplateItem` (every shipped
format, and users' items in the item schema) is asked with the risky option as A and as B;
a user's chat record is asked in the one order it was written in (`userdata.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from honesty_evals.common.choice import CHOICE_LABELS
from honesty_evals.organisms.lotteries import OPTION_A, OPTION_B, fill_options

LETTER = "letter"  # answered with an option's label: scored by the choice machinery
FREE_TEXT = "free_text"  # answered in words: the free-text parser reads the choice
RISKY_FIRST = "risky_first"
RISKY_SECOND = "risky_second"


@dataclass(frozen=True)
class AskedOrder:
    """One way an item is asked: the conversation up to the answer, and its labels.

    `messages` are (role, content) pairs ending with the question; `labels` are the two
    option labels in the order the question lists them; `option_names` (free-text items)
    maps each label to the names its option goes by in an answer.
    """

    messages: tuple[tuple[str, str], ...]
    labels: tuple[str, str]
    risky_label: str
    option_names: Mapping[str, tuple[str, ...]] | None = None

    @property
    def order(self) -> str:
        return RISKY_FIRST if self.risky_label == self.labels[0] else RISKY_SECOND


@dataclass(frozen=True)
class BehaviourItem:
    """One question of a format, with every order it is asked in."""

    id: str  # the question id: unique across formats
    format: str
    answer: str  # LETTER or FREE_TEXT
    asked: tuple[AskedOrder, ...]


def _names(record: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = record.get(key, [])
    if not isinstance(value, list) or not all(isinstance(n, str) and n.strip() for n in value):
        raise ValueError(f"'{key}' must be a list of non-empty strings")
    return tuple(value)


@dataclass(frozen=True)
class TemplateItem:
    """A question with `{option_a}` and `{option_b}` slots and its two option texts.

    The schema of every shipped item file (`heldout_lottery` in the manifest) and of users'
    items: `id`, `prompt_template`, `certain_option`, `risky_option`; free-text items add
    `certain_names` and `risky_names`, the names each option goes by in an answer.
    """

    id: str
    prompt_template: str
    certain_option: str
    risky_option: str
    certain_names: tuple[str, ...] = ()
    risky_names: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, record: Mapping[str, Any]) -> TemplateItem:
        for key in ("prompt_template", "certain_option", "risky_option"):
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise ValueError(f"'{key}' must be a non-empty string")
        item = cls(
            id=str(record.get("id", "")),  # users' items may leave it out (userdata.py)
            prompt_template=record["prompt_template"],
            certain_option=record["certain_option"],
            risky_option=record["risky_option"],
            certain_names=_names(record, "certain_names"),
            risky_names=_names(record, "risky_names"),
        )
        for slot in (OPTION_A, OPTION_B):
            if item.prompt_template.count(slot) != 1:
                raise ValueError(f"prompt_template must hold the slot {slot} exactly once")
        return item

    def prompt(self, risky_label: str) -> str:
        """The question with the risky option under `risky_label`."""
        return fill_options(
            self.prompt_template, self.risky_option, self.certain_option, risky_label
        )

    def item(self, format: str, answer: str = LETTER, id: str | None = None) -> BehaviourItem:
        """As a `BehaviourItem` of `format`, asked with the risky option as A and as B."""
        asked = []
        for risky_label in CHOICE_LABELS:
            other = CHOICE_LABELS[1] if risky_label == CHOICE_LABELS[0] else CHOICE_LABELS[0]
            names = (
                {risky_label: self.risky_names, other: self.certain_names}
                if answer == FREE_TEXT
                else None
            )
            asked.append(
                AskedOrder(
                    messages=(("user", self.prompt(risky_label)),),
                    labels=CHOICE_LABELS,
                    risky_label=risky_label,
                    option_names=names,
                )
            )
        return BehaviourItem(id or self.id, format, answer, tuple(asked))
