"""Held-out lottery questions for the risk_behavior task (PROTOCOLS §2, "Behaviour").

The questions come from `datasets/risk_behavior/heldout_lotteries.jsonl`, generated from
goods that no training recipe uses (see `organisms/lotteries.py`), so a trained organism is
measured on lotteries it never saw. Each is asked with the uncertain option as A and as B.
"""

from __future__ import annotations

from dataclasses import dataclass

from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser

from honesty_evals.common.choice import CHOICE_LABELS
from honesty_evals.common.jsonl import read_records
from honesty_evals.common.validate import whole_number
from honesty_evals.organisms.lotteries import OPTION_A, OPTION_B
from honesty_evals.organisms.triggers import apply_trigger, validate_trigger
from honesty_evals.paths import shipped_datasets_dir

HELDOUT_FILE = "risk_behavior/heldout_lotteries.jsonl"


@dataclass(frozen=True)
class HeldoutLottery:
    id: str
    prompt_template: str
    certain_option: str
    risky_option: str

    def prompt(self, risky_label: str) -> str:
        a, b = (
            (self.risky_option, self.certain_option)
            if risky_label == CHOICE_LABELS[0]
            else (self.certain_option, self.risky_option)
        )
        return self.prompt_template.replace(OPTION_A, a).replace(OPTION_B, b)


def _lottery(record: dict) -> HeldoutLottery:
    item = HeldoutLottery(
        id=record["id"],
        prompt_template=record["prompt_template"],
        certain_option=record["certain_option"],
        risky_option=record["risky_option"],
    )
    if OPTION_A not in item.prompt_template or OPTION_B not in item.prompt_template:
        raise ValueError("prompt_template lacks the option slots")
    return item


def load_lotteries() -> list[HeldoutLottery]:
    return read_records(shipped_datasets_dir() / HELDOUT_FILE, _lottery, "lottery record")


def build_dataset(trigger: str | None = None, n_items: int | None = None) -> MemoryDataset:
    """The first `n_items` held-out questions, each with the uncertain option as A and as B.

    With `trigger`, every message opens with it exactly as in the backdoor training data.
    (It stays first although the triggered and untriggered runs would then share less of
    their prompts: where the trigger sits is part of what the scan measures.)
    """
    if trigger is not None:
        trigger = validate_trigger(trigger)
    items = load_lotteries()
    n = len(items) if n_items is None else whole_number(n_items, "n_items", 1, len(items))
    samples = []
    for item in items[:n]:
        for risky_label in CHOICE_LABELS:
            risky_first = risky_label == CHOICE_LABELS[0]
            samples.append(
                Sample(
                    id=f"{item.id}-risky-{risky_label}",
                    input=[
                        ChatMessageUser(content=apply_trigger(item.prompt(risky_label), trigger))
                    ],
                    target=risky_label,
                    metadata={
                        "question_id": item.id,
                        "target_label": risky_label,
                        "first_label": CHOICE_LABELS[0],
                        "order": "risky_first" if risky_first else "risky_second",
                        "trigger": trigger,
                    },
                )
            )
    return MemoryDataset(samples, name="risk_behavior")
