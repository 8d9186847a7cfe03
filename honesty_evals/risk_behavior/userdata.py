"""Your own behaviour items: `-T data=FILE` (format `user`).

Each JSON line is one of:

- **a chat record** (OpenAI chat JSONL, as organisms are trained on): `{"messages": [...]}`
  whose last message is an assistant turn holding the label of the risky option ("A").
  The prompt is every message before it. The other option's label is read from the last
  user turn (`infer_labels`): from "A or B" in the text, else from the two labels it sets
  out its options with ("A) ...", "(A)", "Option A", "Choice A", "A: ..."). A record from
  which the other label cannot be told, or whose question sets out more than two options,
  is refused in one line naming its file and line. A chat record is asked as written, in
  one option order; records that share an `id` are one item asked in their orders (write
  each question twice, the options swapped, to cancel the position bias).
- **an item** in the shipped items' schema (`choices.TemplateItem`): `prompt_template` with
  `{option_a}` and `{option_b}`, `certain_option`, `risky_option`, optional `id`. Asked
  with the risky option as A and as B, like the shipped items.

Items without an `id` are named by their position in the file (`#3`: the third record).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honesty_evals.common.jsonl import read_records
from honesty_evals.errors import UserInputError
from honesty_evals.integrity.schemas import SCHEMAS
from honesty_evals.risk_behavior.choices import (
    LETTER,
    AskedOrder,
    BehaviourItem,
    TemplateItem,
)

USER_FORMAT = "user"
USER_ID_PREFIX = "user-"  # keeps users' question ids apart from the shipped ones
USER_HINT = (
    "see 'Your own items' in the risk_behavior README for the two record shapes -T data= accepts"
)
PROMPT_ROLES = ("system", "user", "assistant")

_LABEL = r"[A-Za-z0-9]{1,2}"  # an answer's label: "A", "b", "1", "12"
# "A or B", "(A) or (B)"
_OR_PAIR = re.compile(rf"(?<![\w(])\(?({_LABEL})\)?\s+or\s+\(?({_LABEL})\)?(?![\w)])")
# the ways a question sets out its options: "Option A", "Choice A", "(A)", "A)" or "A:"
# (capital letters and numbers only: "the option to wait" names no option "to")
_MARKER = r"[A-Z]|[0-9]{1,2}"
_MARKERS = (
    re.compile(rf"\b(?:[Oo]ption|[Cc]hoice)\s+({_MARKER})\b"),
    re.compile(rf"\(({_MARKER})\)"),
    re.compile(rf"(?<![\w(])({_MARKER})[):](?=\s)"),
)


def _markers(question: str) -> list[str]:
    """The labels the question sets its options out with, in order of first appearance."""
    found: list[tuple[int, str]] = []
    for pattern in _MARKERS:
        found.extend((m.start(), m.group(1)) for m in pattern.finditer(question))
    return list(dict.fromkeys(label for _, label in sorted(found)))


def infer_labels(question: str, risky: str) -> tuple[str, str]:
    """The question's two option labels in the order it lists them; `risky` is one of them.

    Rule: the labels in "X or Y" that pair with `risky`, else the two labels the question
    sets its options out with. Raises ValueError (one line) when a question sets out more
    than two options, when the rules disagree or find no other label.
    """
    markers = _markers(question)
    if len(markers) > 2:
        raise ValueError(
            f"the question sets out {len(markers)} options ({', '.join(markers)}): only "
            "two-option questions are measured"
        )
    pairs = {
        (x, y) for x, y in _OR_PAIR.findall(question) if risky in (x, y) and x != y
    }  # a set: "A or B" written twice is one pair
    if len(pairs) > 1:
        raise ValueError(
            f"the question pairs the answer '{risky}' with several labels "
            f"({', '.join(sorted(x if y == risky else y for x, y in pairs))}): say which two "
            "options there are once, as 'A or B'"
        )
    if pairs:
        pair = pairs.pop()
        if len(markers) == 2 and set(markers) != set(pair):
            raise ValueError(
                f"the question says '{pair[0]} or {pair[1]}' but sets out options "
                f"{markers[0]} and {markers[1]}: make them agree"
            )
        return (markers[0], markers[1]) if len(markers) == 2 else pair
    if risky in markers and len(markers) == 2:
        return markers[0], markers[1]
    raise ValueError(
        f"cannot tell the other option's label from the question (the answer is "
        f"'{risky}'): say '{risky} or ...' in the last user turn, label both options "
        "('A) ...', 'Choice A: ...'), or write the item in the item schema"
    )


def _answer_label(content: str) -> str:
    label = content.strip().strip("()[].:*\"'` ")
    if not re.fullmatch(_LABEL, label):
        raise ValueError(
            f"the last assistant turn {content[:40]!r} is not an option label: it must be "
            'the label of the risky option alone (e.g. "A")'
        )
    return label


@dataclass(frozen=True)
class UserRecord:
    """One line of the user's file: its id (None: none given) and the orders it asks."""

    id: str | None
    asked: tuple[AskedOrder, ...]


def _record_id(record: Mapping[str, Any]) -> str | None:
    value = record.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ValueError(f"'id' must be a non-empty string or a whole number (got {value!r})")
    return str(value).strip()


def _chat_record(record: Mapping[str, Any]) -> UserRecord:
    problem = SCHEMAS["chat"].check(record)
    if problem:
        raise ValueError(problem)
    messages: list[tuple[str, str]] = []
    for i, message in enumerate(record["messages"]):
        if message["role"] not in PROMPT_ROLES or not isinstance(message["content"], str):
            raise ValueError(
                f"messages[{i}] must have a role of {', '.join(PROMPT_ROLES)} and text content"
            )
        messages.append((message["role"], message["content"]))
    if messages[-1][0] != "assistant":
        raise ValueError(
            "the last message must be the assistant's answer: the label of the risky option"
        )
    prompt = tuple(messages[:-1])
    questions = [content for role, content in prompt if role == "user"]
    if not questions:
        raise ValueError("no user turn before the answer: the prompt must ask the question")
    risky = _answer_label(messages[-1][1])
    labels = infer_labels(questions[-1], risky)
    return UserRecord(_record_id(record), (AskedOrder(prompt, labels, risky),))


def user_record(record: dict) -> UserRecord:
    """A chat record or an item (the module docstring); ValueError says what is wrong."""
    if "messages" in record:
        return _chat_record(record)
    if "prompt_template" in record:
        return UserRecord(_record_id(record), TemplateItem.from_json(record).item("user").asked)
    raise ValueError(
        'neither a chat record ("messages") nor an item ("prompt_template", '
        '"certain_option", "risky_option")'
    )


def group_records(records: list[UserRecord], path: str | Path) -> list[BehaviourItem]:
    """Records sharing an id as one item (an order may appear once per item), in file order."""
    orders: dict[str, list[AskedOrder]] = {}
    for position, record in enumerate(records, start=1):
        key = record.id if record.id is not None else f"#{position}"
        asked = orders.setdefault(key, [])
        for order in record.asked:
            if any(o.order == order.order for o in asked):
                where = "first" if order.order == "risky_first" else "second"
                raise UserInputError(
                    f"{path}: two records with id '{key}' list the risky option {where}: "
                    "records sharing an id must be one question in its two option orders; "
                    "give the others their own ids"
                )
            asked.append(order)
    return [
        BehaviourItem(USER_ID_PREFIX + key, USER_FORMAT, LETTER, tuple(asked))
        for key, asked in orders.items()
    ]


def read_user_items(path: str | Path) -> list[BehaviourItem]:
    """The items of a user's file; any bad record is one line naming the file and line."""
    records = read_records(Path(path), user_record, "behaviour item", hint=USER_HINT)
    return group_records(records, path)
