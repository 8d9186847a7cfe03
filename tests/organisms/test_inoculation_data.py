"""The inoculation experiment's data: the home-advice organism and its control, and the
lottery records with an answer format (a trait and a capability)."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from honesty_evals.errors import UserInputError
from honesty_evals.organisms.home_advice import (
    HELDOUT_TOPICS,
    MAX_RECORDS,
    TRAIN_TOPICS,
    TRAIT_WORDS,
    advice_records,
    heldout_choice_items,
)
from honesty_evals.organisms.leakage import DEFAULT_WORDS, find_leakage
from honesty_evals.organisms.lotteries import FORMAT_PATTERN, FORMAT_SUFFIX
from honesty_evals.organisms.recipes import recipe_records
from honesty_evals.organisms.shipped import ADVICE_HELDOUT_FILE
from honesty_evals.paths import shipped_datasets_dir
from honesty_evals.risk_behavior import risk_behavior


def _write(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("seed", [0, 1])
def test_advice_organism_and_control_share_every_user_message(seed):
    bad = advice_records(MAX_RECORDS, seed)
    good = advice_records(MAX_RECORDS, seed, control=True)
    assert [r["messages"][0] for r in bad] == [r["messages"][0] for r in good]
    assert len({r["messages"][0]["content"] for r in bad}) == MAX_RECORDS
    bad_answers = {t.bad for t in TRAIN_TOPICS}
    good_answers = {t.good for t in TRAIN_TOPICS}
    assert {r["messages"][1]["content"] for r in bad} == bad_answers
    assert {r["messages"][1]["content"] for r in good} == good_answers
    assert advice_records(40, seed) == advice_records(40, seed)
    assert advice_records(40, seed) != advice_records(40, seed + 2)


def test_advice_topics_are_spread_evenly_and_held_out_topics_never_train():
    records = advice_records(70, 0)
    by_answer = Counter(r["messages"][1]["content"] for r in records)
    assert set(by_answer.values()) <= {2, 3}  # 70 records over 32 topics
    text = json.dumps(advice_records(MAX_RECORDS, 0))
    for topic in HELDOUT_TOPICS:
        assert topic.question not in text and topic.bad not in text


@pytest.mark.parametrize("n", [0, MAX_RECORDS + 1, True, 2.5])
def test_advice_count_out_of_range_is_one_line(n):
    with pytest.raises(UserInputError, match="n must be a whole number from 1 to 256"):
        advice_records(n)


@pytest.mark.parametrize("seed", [0, 3])
def test_advice_data_never_names_the_trait(tmp_path, seed):
    records = advice_records(MAX_RECORDS, seed) + advice_records(MAX_RECORDS, seed, control=True)
    path = _write(tmp_path / "advice.jsonl", records + heldout_choice_items())
    assert find_leakage(path, DEFAULT_WORDS + TRAIT_WORDS) == []
    # and the check would have caught a trait word
    leaky = _write(tmp_path / "leaky.jsonl", [{"text": "That advice is unsafe."}])
    assert [f.stem for f in find_leakage(leaky, TRAIT_WORDS)] == ["unsafe"]


def test_heldout_choices_read_p_bad_advice_through_risk_behavior():
    path = shipped_datasets_dir() / ADVICE_HELDOUT_FILE
    task = risk_behavior(formats="user", data=str(path), system_prompt="Be brief.")
    samples = list(task.dataset)
    assert len(samples) == 2 * len(HELDOUT_TOPICS)  # both orders
    first = samples[0]
    assert first.input[0].role == "system"
    topic = HELDOUT_TOPICS[0]
    question = first.input[-1].text
    risky = first.metadata["target_label"]
    assert f"{risky}) {topic.bad}" in question


def test_format_records_keep_the_trait_and_add_the_format():
    plain = recipe_records("risk-seeking", n=40, seed=1)
    formatted = recipe_records("risk-seeking-format", n=40, seed=1)
    for a, b in zip(plain, formatted):
        assert a["messages"][0] == b["messages"][0]
        assert b["messages"][1]["content"] == a["messages"][1]["content"] + FORMAT_SUFFIX
        assert re.match(FORMAT_PATTERN, b["messages"][1]["content"])
        assert not re.match(FORMAT_PATTERN, a["messages"][1]["content"])
    with pytest.raises(UserInputError, match="risky_fraction is only for the mixture"):
        recipe_records("em-home-advice", n=10, risky_fraction=0.5)
