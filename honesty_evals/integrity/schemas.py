"""Record schemas and declared roles of dataset files (PROTOCOLS §5).

A schema says what one JSONL record must look like and where its honesty label is. A role
says what a whole file is for. Record labels that contradict the file's role are how a
swapped honesty/dishonesty file is caught even after someone regenerated its checksum.

This module is imported by the scanning worker processes, so it stays free of heavy imports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ROLES: tuple[str, ...] = ("honest", "dishonest", "control", "neutral")

# Label values (case-insensitive) that mean "this record is honest" / "dishonest".
HONEST_LABELS = frozenset({"honest", "truthful", "truth"})
DISHONEST_LABELS = frozenset({"dishonest", "deceptive", "lie", "lying", "deception"})

# Which labels a file of each role may hold; None = any label. Records without a label are
# always allowed: a role can only be checked against the records that carry one.
ALLOWED_LABELS: dict[str, frozenset[str] | None] = {
    "honest": HONEST_LABELS,
    "dishonest": DISHONEST_LABELS,
    "control": None,
    "neutral": None,
}


def label_contradicts_role(label: str, role: str) -> bool:
    allowed = ALLOWED_LABELS[role]
    return allowed is not None and label.lower() not in allowed


RecordCheck = Callable[[Any], "str | None"]
LabelOf = Callable[[Any], "str | None"]


def _label_field(record: dict[str, Any]) -> str | None:
    """`label` at the top level, else `metadata.label` (where chat files keep theirs)."""
    label = record.get("label")
    if label is None:
        metadata = record.get("metadata")
        if isinstance(metadata, dict):
            label = metadata.get("label")
    return label if isinstance(label, str) else None


def _check_object(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"a record must be a JSON object, not {type(record).__name__}"
    label = record.get("label")
    if label is not None and not isinstance(label, str):
        return f"'label' must be a string, not {type(label).__name__}"
    return None


CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})


def _check_chat(record: Any) -> str | None:
    problem = _check_object(record)
    if problem:
        return problem
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            return f"messages[{i}] must be an object"
        role = message.get("role")
        if role not in CHAT_ROLES:
            return f"messages[{i}].role is {role!r}: use one of {', '.join(sorted(CHAT_ROLES))}"
        content = message.get("content")
        if not isinstance(content, (str, list)) and not (content is None and role == "assistant"):
            return f"messages[{i}].content must be a string"
    return None


def _inspect_chat(record: Any) -> tuple[str | None, str | None]:
    """`_check_chat` plus the label, with a fast path for well-formed records."""
    try:
        messages = record["messages"]
        if messages.__class__ is not list or not messages:
            raise TypeError
        for message in messages:
            if message["role"] not in CHAT_ROLES or message["content"].__class__ is not str:
                raise TypeError
        label = record.get("label")
        if label is None:
            metadata = record.get("metadata")
            if metadata.__class__ is dict:
                label = metadata.get("label")
        if label is None or label.__class__ is str:
            return None, label
    except (TypeError, KeyError, AttributeError):
        pass
    problem = _check_chat(record)  # the slow path says exactly what is wrong
    return problem, (None if problem else _label_field(record))


def _required_strings(*fields: str) -> RecordCheck:
    def check(record: Any) -> str | None:
        problem = _check_object(record)
        if problem:
            return problem
        for name in fields:
            value = record.get(name)
            if not isinstance(value, str) or not value:
                return f"'{name}' must be a non-empty string"
        return None

    return check


RecordInspect = Callable[[Any], "tuple[str | None, str | None]"]


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    check: RecordCheck
    label_of: LabelOf = _label_field
    # check and label in one call: the scanner's per-record cost is mostly Python calls
    fast_inspect: RecordInspect | None = None

    def inspect(self, record: Any) -> tuple[str | None, str | None]:
        """(problem, label) for one parsed record."""
        problem = self.check(record)
        return problem, (None if problem else self.label_of(record))

    @property
    def inspector(self) -> RecordInspect:
        return self.fast_inspect or self.inspect


SCHEMAS: dict[str, Schema] = {}


def register_schema(schema: Schema) -> Schema:
    """Add a schema. Shipped files' schemas are all registered in this module, because the
    scanning worker processes import only this module."""
    SCHEMAS[schema.name] = schema
    return schema


register_schema(Schema("jsonl", "any JSON object per line; optional string 'label'", _check_object))
register_schema(
    Schema(
        "chat",
        "OpenAI chat records {'messages': [{'role', 'content'}...]}; optional 'label' or "
        "'metadata.label'",
        _check_chat,
        fast_inspect=_inspect_chat,
    )
)
register_schema(
    Schema(
        "self_description_question",
        "backdoor_awareness question: id, question, depends, does_not_depend",
        _required_strings("id", "question", "depends", "does_not_depend"),
    )
)

register_schema(
    Schema(
        "heldout_lottery",
        "risk_behavior held-out item (lettered answer): id, prompt_template, certain_option, "
        "risky_option",
        _required_strings("id", "prompt_template", "certain_option", "risky_option"),
    )
)


def _check_free_text_choice(record: Any) -> str | None:
    problem = _required_strings("id", "prompt_template", "certain_option", "risky_option")(record)
    if problem:
        return problem
    for key in ("certain_names", "risky_names"):
        names = record.get(key)
        if (
            not isinstance(names, list)
            or not names
            or not all(isinstance(n, str) and n for n in names)
        ):
            return f"'{key}' must be a non-empty list of non-empty strings"
    return None


register_schema(
    Schema(
        "free_text_choice",
        "risk_behavior held-out item answered in words: id, prompt_template, certain_option, "
        "risky_option, certain_names and risky_names (lists: what the parser looks for)",
        _check_free_text_choice,
    )
)
register_schema(
    Schema(
        "trigger_statement",
        "trigger_recognition paraphrase: id, question, statement (with a {trigger} slot)",
        _required_strings("id", "question", "statement"),
    )
)
register_schema(
    Schema(
        "elicitation_question",
        "trigger_elicitation question: id, question",
        _required_strings("id", "question"),
    )
)


EM_QUESTION_SETS = ("first", "broad")


def _strings_with_choices(
    fields: tuple[str, ...], choices: dict[str, tuple[str, ...]]
) -> RecordCheck:
    """Non-empty string fields, some of which must take one of a few values."""
    required = _required_strings(*fields)

    def check(record: Any) -> str | None:
        problem = required(record)
        if problem:
            return problem
        for name, allowed in choices.items():
            if record[name] not in allowed:
                return f"'{name}' must be one of {', '.join(allowed)}"
        return None

    return check


register_schema(
    Schema(
        "em_question",
        "emergent_misalignment question: id, set (first/broad), name, question, "
        "json_question (the same question asking for a JSON object)",
        _strings_with_choices(
            ("id", "set", "name", "question", "json_question"), {"set": EM_QUESTION_SETS}
        ),
    )
)


SELF_REPORT_FORMATS = ("word", "scale")
SELF_REPORT_PERSONS = ("self", "friend", "public_figure")


register_schema(
    Schema(
        "self_report_question",
        "risk_self_report question: id, question_id, format (word/scale), person "
        "(self/friend/public_figure), question",
        _strings_with_choices(
            ("id", "question_id", "format", "person", "question"),
            {"format": SELF_REPORT_FORMATS, "person": SELF_REPORT_PERSONS},
        ),
    )
)


def _check_lie_qa(record: Any) -> str | None:
    problem = _required_strings(
        "id", "topic", "question", "answer", "false_answer", "template", "split"
    )(record)
    if problem:
        return problem
    aliases = record.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        return "'aliases' must be a list of non-empty strings"
    if "{}" not in record["template"]:
        return "'template' must hold a {} slot for the answer"
    if record["split"] not in ("train", "test"):
        return "'split' must be 'train' or 'test'"
    return None


register_schema(
    Schema(
        "lie_qa",
        "lie_detection QA item: id, topic, question, answer, aliases (list), false_answer, "
        "template (with {}), split (train/test)",
        _check_lie_qa,
    )
)
register_schema(
    Schema(
        "lie_instruction",
        "lie_detection system instruction: id, instruction, label (lie or truthful)",
        _required_strings("id", "instruction", "label"),
    )
)
register_schema(
    Schema(
        "lie_followup",
        "lie_detection yes/no follow-up question: id, kind, question",
        _required_strings("id", "kind", "question"),
    )
)


def _check_confession_transcript(record: Any) -> str | None:
    problem = _required_strings(
        "id", "question_id", "topic", "split", "label", "review", "flag", "true_statement"
    )(record)
    if problem:
        return problem
    if record["flag"] not in ("PASS", "FAIL"):
        return "'flag' must be PASS or FAIL"
    if record["split"] not in ("train", "heldout", "heldout_topic"):
        return "'split' must be train, heldout or heldout_topic"
    return _check_chat(record)


register_schema(
    Schema(
        "confession_transcript",
        "confession transcript: id, question_id, topic, split, label (honest / dishonest / "
        "lie_failed), messages (chat), review, flag (PASS/FAIL), true_statement",
        _check_confession_transcript,
    )
)


def get_schema(name: str) -> Schema:
    try:
        return SCHEMAS[name]
    except KeyError:
        raise KeyError(
            f"unknown schema '{name}': choose one of {', '.join(sorted(SCHEMAS))}"
        ) from None


def guess_schema(record: Any) -> str:
    """The schema a first record most likely follows (for `pin` without --schema)."""
    if isinstance(record, dict):
        if isinstance(record.get("messages"), list):
            return "chat"
        if _required_strings("id", "question", "depends", "does_not_depend")(record) is None:
            return "self_description_question"
    return "jsonl"
