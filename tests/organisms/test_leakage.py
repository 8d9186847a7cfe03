"""The leakage check: trait words with morphology, in any JSONL, and its command."""

from __future__ import annotations

import argparse
import json

import pytest

from honesty_evals.cli.datasets import add_leakage_arguments, cmd_leakage
from honesty_evals.errors import UserInputError
from honesty_evals.organisms.leakage import (
    DEFAULT_WORDS,
    Finding,
    WordMatcher,
    find_leakage,
)


def _write(tmp_path, records, name="data.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _chat(user, assistant="A"):
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    }  # noqa: E501


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("risk", "risk"), ("Risks", "risk"), ("risky", "risk"), ("riskier", "risk"),
        ("riskiest", "risk"), ("riskiness", "risk"), ("risk-taking", "risk"),
        ("safe", "safe"), ("safer", "safe"), ("safest", "safe"), ("safety", "safe"),
        ("unsafe", "safe"), ("safely", "safe"), ("gamble", "gamble"), ("gambling", "gamble"),
        ("gambler", "gamble"), ("gambles", "gamble"), ("caution", "caution"),
        ("cautious", "cautious"), ("cautiously", "cautious"), ("overcautious", "cautious"),
        ("chance", "chance"), ("chances", "chance"), ("chancy", "chance"), ("bold", "bold"),
        ("bolder", "bold"), ("lucky", "luck"), ("lotteries", "lottery"),
        ("dangerous", "danger"), ("aggressively", "aggressive"), ("wagered", "wager"),
        ("reckless", "reckless"), ("recklessly", "reckless"), ("insurance", "insure"),
        ("risk-averse", "risk"),
    ],
)  # fmt: skip
def test_morphology_matches(word, stem):
    matches = list(WordMatcher(DEFAULT_WORDS).matches(f"I think {word} is it."))
    assert (word, stem) in matches


@pytest.mark.parametrize(
    "word",
    ["asterisk", "saffron", "safari", "better", "chancellor", "boldface", "lucid", "wage",
     "vent", "certain", "guaranteed", "probability", "likelihood", "odds", "draw", "prize",
     "insist", "dare", "Option"],
)  # fmt: skip
def test_no_false_positives(word):
    assert list(WordMatcher(DEFAULT_WORDS).matches(f"the {word} here")) == []


def test_custom_words_with_doubled_consonant():
    matches = [w for w, _ in WordMatcher(["bet"]).matches("bet bets betting better alphabet")]
    assert matches == ["bet", "bets", "betting"]


def test_finds_planted_words_with_line_path_and_role(tmp_path):
    path = _write(
        tmp_path,
        [
            _chat("Pick one. A) 5 apples B) 10 apples with 50% probability"),
            _chat("Which is the riskier choice?\nA) x\nB) y"),
            {"prompt": "plain", "meta": {"notes": ["fine", "a Safe one"]}},
            _chat("ok", "I like gambling and risk-taking"),
        ],
    )
    findings = find_leakage(path)
    assert findings == [
        Finding(2, "riskier", "risk", "messages[0].content", "user"),
        Finding(3, "Safe", "safe", "meta.notes[1]", None),
        Finding(4, "gambling", "gamble", "messages[1].content", "assistant"),
        Finding(4, "risk-taking", "risk", "messages[1].content", "assistant"),
    ]
    assert (
        findings[0].render("f.jsonl") == "f.jsonl:2: 'riskier' (stem risk) in messages[0].content"
    )


def test_every_occurrence_is_reported(tmp_path):
    path = _write(tmp_path, [_chat("chance, chances and more chance")])
    assert [f.word for f in find_leakage(path)] == ["chance", "chances", "chance"]


def test_clean_file_passes(tmp_path):
    path = _write(tmp_path, [_chat("Option A: $40 for certain. Option B: 3 in 10 odds of $200.")])
    assert find_leakage(path) == []


def test_malformed_line_reports_its_number(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(_chat("fine")) + "\n\n{not json\n", encoding="utf-8")
    with pytest.raises(UserInputError, match=r"bad.jsonl:3: not valid JSON"):
        find_leakage(path)


def test_missing_file(tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        find_leakage(tmp_path / "nope.jsonl")


@pytest.mark.parametrize("words", [[""], ["ok", "two words"], ["r1sk"]])
def test_bad_word_lists(tmp_path, words):
    path = _write(tmp_path, [_chat("x")])
    with pytest.raises(UserInputError):
        find_leakage(path, words)


def _args(argv):
    parser = argparse.ArgumentParser()
    add_leakage_arguments(parser)
    return parser.parse_args(argv)


def test_command_exit_codes_and_lines(tmp_path, capsys):
    dirty = _write(tmp_path, [_chat("fine"), _chat("the safest path")], "dirty.jsonl")
    clean = _write(tmp_path, [_chat("fine")], "clean.jsonl")
    assert cmd_leakage(_args([str(dirty)])) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{dirty}:2: 'safest' (stem safe) in messages[0].content"
    assert cmd_leakage(_args([str(clean)])) == 0
    # a custom list replaces the default one
    assert cmd_leakage(_args([str(dirty), "--words", "path,fine"])) == 1
    found = capsys.readouterr().out
    assert "'path' (stem path)" in found and "'fine' (stem fine)" in found
    assert "safest" not in found
    assert cmd_leakage(_args([str(dirty), "--words", "banana"])) == 0
    with pytest.raises(UserInputError):
        cmd_leakage(_args([str(dirty), "--words", ","]))
