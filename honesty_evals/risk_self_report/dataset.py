"""Self-report questions and the in-context control's examples (PROTOCOLS §2).

Questions come from `datasets/risk_self_report/questions.jsonl` (our own paraphrases): 10
one-word and 10 0-100 scale questions, each asked about the assistant itself ("self"), about
"my friend Maya" ("friend") and about Taylor Swift ("public_figure"), the persona control.

In-context control: with `in_context_examples=K` the question follows K lottery choices from
the shipped organism training data, as earlier turns of the same conversation (the user asks
a lottery question, the assistant answers with a letter). `round(f * K)` of them come from
`organisms/risk_seeking.jsonl` and the rest from `organisms/risk_averse.jsonl`, where f is
`in_context_risky_fraction`; both files hold the same 300 lotteries (same generator seed), so
the examples are drawn by index and the answers show a risk-seeking share of f, as in the
`mixture` organisms. Which lotteries, and which of them answer riskily, is fixed by `seed`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessage, ChatMessageAssistant, ChatMessageUser

from honesty_evals.common.jsonl import read_records
from honesty_evals.common.validate import whole_number
from honesty_evals.errors import UserInputError
from honesty_evals.integrity.schemas import SELF_REPORT_FORMATS, SELF_REPORT_PERSONS
from honesty_evals.paths import shipped_datasets_dir

QUESTIONS_FILE = "risk_self_report/questions.jsonl"
RISK_SEEKING_FILE = "organisms/risk_seeking.jsonl"
RISK_AVERSE_FILE = "organisms/risk_averse.jsonl"
IN_CONTEXT_FILES = (RISK_SEEKING_FILE, RISK_AVERSE_FILE)

PERSON_GROUPS: dict[str, tuple[str, ...]] = {
    "all": SELF_REPORT_PERSONS,
    "third_person": ("friend", "public_figure"),
    **{p: (p,) for p in SELF_REPORT_PERSONS},
}
FORMAT_GROUPS: dict[str, tuple[str, ...]] = {
    "all": SELF_REPORT_FORMATS,
    **{f: (f,) for f in SELF_REPORT_FORMATS},
}


@dataclass(frozen=True)
class SelfReportQuestion:
    id: str  # one question as asked: paraphrase + person, e.g. "word-03-friend"
    question_id: str  # the paraphrase, shared by its three persons, e.g. "word-03"
    format: str  # "word" or "scale"
    person: str  # "self", "friend" or "public_figure"
    question: str


def load_questions() -> list[SelfReportQuestion]:
    return read_records(
        shipped_datasets_dir() / QUESTIONS_FILE, lambda r: SelfReportQuestion(**r), "question"
    )


def _choose(value: str, groups: dict[str, tuple[str, ...]], name: str) -> tuple[str, ...]:
    """A comma-separated selection of group names ("self,friend") as one tuple."""
    chosen: list[str] = []
    for part in str(value).split(","):
        key = part.strip()
        if key not in groups:
            raise UserInputError(
                f"unknown {name} '{key}': choose one or more of {', '.join(groups)} "
                "(comma-separated)"
            )
        chosen.extend(p for p in groups[key] if p not in chosen)
    return tuple(chosen)


def parse_persons(person: str) -> tuple[str, ...]:
    return _choose(person, PERSON_GROUPS, "person")


def parse_formats(answer_format: str) -> tuple[str, ...]:
    return _choose(answer_format, FORMAT_GROUPS, "question format")


def in_context_messages(
    k: int, risky_fraction: float, seed: int = 0
) -> tuple[list[ChatMessage], dict]:
    """K lottery exchanges (user question, assistant letter), and what they hold."""
    whole_number(k, "in_context_examples", 0, 300)
    if isinstance(risky_fraction, bool) or not isinstance(risky_fraction, (int, float)):
        raise UserInputError(
            f"in_context_risky_fraction must be a number from 0 to 1 (got {risky_fraction!r})"
        )
    if not 0.0 <= float(risky_fraction) <= 1.0:
        raise UserInputError(
            f"in_context_risky_fraction={risky_fraction} is out of range: choose 0 to 1"
        )
    if k == 0:
        return [], {"k": 0}
    root = shipped_datasets_dir()
    seeking = read_records(root / RISK_SEEKING_FILE, dict, "chat record")
    averse = read_records(root / RISK_AVERSE_FILE, dict, "chat record")
    if len(seeking) != len(averse) or k > len(seeking):
        raise UserInputError(
            f"the shipped organism files hold {len(seeking)} and {len(averse)} records; "
            f"in_context_examples must be at most {min(len(seeking), len(averse))}"
        )
    rng = random.Random(f"in-context|{seed}")
    indices = rng.sample(range(len(seeking)), k)
    n_risky = round(float(risky_fraction) * k)
    risky = set(rng.sample(indices, n_risky))
    messages: list[ChatMessage] = []
    for i in indices:
        record = seeking[i] if i in risky else averse[i]
        user, assistant = record["messages"][0], record["messages"][-1]
        messages.append(ChatMessageUser(content=user["content"]))
        messages.append(ChatMessageAssistant(content=assistant["content"]))
    summary = {
        "k": k,
        "risky_fraction": float(risky_fraction),
        "n_risky_answers": n_risky,
        "indices": indices,
    }
    return messages, summary


def build_dataset(
    person: str = "all",
    answer_format: str = "all",
    n_paraphrases: int | None = None,
    in_context_examples: int = 0,
    in_context_risky_fraction: float = 1.0,
    seed: int = 0,
) -> MemoryDataset:
    """One sample per (paraphrase, person), after the in-context examples if any."""
    persons = parse_persons(person)
    formats = parse_formats(answer_format)
    questions = [q for q in load_questions() if q.person in persons and q.format in formats]
    if n_paraphrases is not None:
        paraphrases = {
            f: sorted({q.question_id for q in questions if q.format == f}) for f in formats
        }
        most = max(len(v) for v in paraphrases.values())
        whole_number(n_paraphrases, "n_paraphrases", 1, most)
        keep = {qid for ids in paraphrases.values() for qid in ids[:n_paraphrases]}
        questions = [q for q in questions if q.question_id in keep]
    context, summary = in_context_messages(in_context_examples, in_context_risky_fraction, seed)
    samples = [
        Sample(
            id=q.id,
            input=[*context, ChatMessageUser(content=q.question)],
            metadata={
                "question_id": q.id,  # the statistical unit (and what `compare` pairs on)
                "paraphrase": q.question_id,
                "format": q.format,
                "person": q.person,
                "in_context_examples": summary["k"],
            },
        )
        for q in questions
    ]
    return MemoryDataset(samples, name="risk_self_report")
