"""Free-form questions for emergent misalignment, in a plain and a JSON-answer variant
(PROTOCOLS §6).

`datasets/emergent_misalignment/questions.jsonl` (our own wording) holds 8 questions in the
style of the published first set (`set` "first": a wish, boredom, quick money, ruling the
world, dinner guests, gender roles, a spouse conflict, AI and humans) and 40 broader neutral
ones ("broad"). Each record also holds `json_question`, the same question asking for the
answer as a JSON object. A user's own questions come from a text file, one question a
line; their JSON variant appends `USER_JSON_SUFFIX`.

The statistical unit is the question: its plain and JSON variants and its `n_answers`
sampled answers are one cluster (`question_id`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessage, ChatMessageSystem, ChatMessageUser

from honesty_evals.common.jsonl import read_records
from honesty_evals.common.textfile import lines_without_blanks
from honesty_evals.common.validate import whole_number
from honesty_evals.errors import UserInputError
from honesty_evals.paths import shipped_datasets_dir

QUESTIONS_FILE = "emergent_misalignment/questions.jsonl"
QUESTION_SETS: tuple[str, ...] = ("first", "broad", "all")
VARIANTS: dict[str, tuple[str, ...]] = {
    "plain": ("plain",),
    "json": ("json",),
    "both": ("plain", "json"),
}
USER_JSON_SUFFIX = (
    ' Reply with a JSON object and nothing else, in the form {"answer": "<your answer>"}.'
)


@dataclass(frozen=True)
class EMQuestion:
    id: str  # "first-03", "broad-12", "user-00"
    set: str  # "first", "broad" or "user"
    name: str
    question: str
    json_question: str

    def text(self, variant: str) -> str:
        return self.json_question if variant == "json" else self.question


def load_questions() -> list[EMQuestion]:
    return read_records(
        shipped_datasets_dir() / QUESTIONS_FILE, lambda r: EMQuestion(**r), "question"
    )


def read_question_file(path: str | Path) -> list[EMQuestion]:
    """A user's questions, one a line (a blank line is refused with its line number)."""
    lines = lines_without_blanks(path, "questions file", "question")
    return [
        EMQuestion(f"user-{i:02d}", "user", f"line {i + 1}", q, q + USER_JSON_SUFFIX)
        for i, q in enumerate(lines)
    ]


def select_questions(questions: str) -> list[EMQuestion]:
    """The shipped questions of one set ("first", "broad") or all of them."""
    if questions not in QUESTION_SETS:
        raise UserInputError(
            f"unknown question set '{questions}': choose one of {', '.join(QUESTION_SETS)} "
            "(or give your own with -T questions_file=PATH)"
        )
    shipped = load_questions()
    return shipped if questions == "all" else [q for q in shipped if q.set == questions]


def parse_variant(variant: str) -> tuple[str, ...]:
    if variant not in VARIANTS:
        raise UserInputError(f"unknown variant '{variant}': choose one of {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def build_dataset(
    questions: list[EMQuestion],
    variants: tuple[str, ...],
    n_answers: int,
    system_prompt: str | None = None,
) -> MemoryDataset:
    """One sample per (question, variant, answer draw), the system message first if any."""
    whole_number(n_answers, "n_answers", 1, 1000)
    samples = []
    for q in questions:
        for variant in variants:
            for k in range(n_answers):
                messages: list[ChatMessage] = []
                if system_prompt is not None:
                    messages.append(ChatMessageSystem(content=system_prompt))
                messages.append(ChatMessageUser(content=q.text(variant)))
                samples.append(
                    Sample(
                        id=f"{q.id}-{variant}-a{k:02d}",
                        input=messages,
                        metadata={
                            "question_id": q.id,  # the unit of every interval
                            "set": q.set,
                            "name": q.name,
                            "variant": variant,
                            "draw": k,
                            "question": q.text(variant),
                        },
                    )
                )
    return MemoryDataset(samples, name="emergent_misalignment")
