"""The held-out split and the fit check after training, on the tiny random Llama."""

from __future__ import annotations

import json
import random
import re

import pytest
from transformers import AutoTokenizer

from honesty_evals.cli.entry import build_parser
from honesty_evals.cli.organism import config_from_args
from honesty_evals.training import holdout
from honesty_evals.training.data import Conversation, EncodedExample
from honesty_evals.training.fitcheck import (
    CUT,
    EMPTY,
    FIT_MARGIN,
    NOT_TRAINED,
    ONE_TOKEN_MIN_P,
    HeldOutAnswer,
    HeldOutAnswers,
    encode_answers,
    not_learned_reason,
    summarise,
)
from honesty_evals.training.holdout import (
    HOLDOUT_FILE,
    held_out_count,
    prompt_key,
    split_holdout,
)
from honesty_evals.training.trainer import CARD_NAME, partial_dir, train
from tests.training.test_trainer import (
    _config,
    _interrupt_after,
    _quiet,
    _records,
    _write_jsonl,
)

WARNING = "warning: the organism did not learn its data"


def _chat(prompt: str, answer: str) -> list[dict]:
    return [
        {"role": "system", "content": "answer with a single letter"},
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": answer},
    ]


def _prompts(n: int) -> list[str]:
    """n distinct prompts of the tiny tokenizer's words."""
    words = "the cat dog runs sleeps red blue green one two three four five six".split()
    return [f"{words[i % len(words)]} {words[i // len(words) % len(words)]}" for i in range(n)]


def _constant_answer_records(n: int, answer: str = "A") -> list[dict]:
    """n distinct prompts, one answer: a tiny model learns it in a few steps."""
    return [{"messages": _chat(prompt, answer)} for prompt in _prompts(n)]


# -- the split ---------------------------------------------------------------------------------


def test_held_out_count_is_a_tenth_of_the_prompts_and_one_from_ten_on():
    assert [held_out_count(n) for n in (1, 9, 10, 14, 15, 24, 300)] == [0, 0, 1, 1, 2, 2, 30]


def test_split_is_grouped_by_prompt_and_seeded():
    # 30 prompts, each asked 1-3 times with different answers: a group is one prompt
    rng = random.Random(0)
    conversations, line = [], 0
    for prompt in _prompts(30):
        for answer in "AB"[: rng.randint(1, 2)] + ("C" if rng.random() < 0.3 else ""):
            line += 1
            conversations.append(Conversation(line, _chat(prompt, answer)))
    lines, groups = split_holdout(conversations, seed=0)
    assert groups == 30
    held = {prompt_key(c.messages) for c in conversations if c.line in lines}
    kept = {prompt_key(c.messages) for c in conversations if c.line not in lines}
    assert len(held) == 3 and not held & kept  # a prompt is never on both sides
    # every record of a held-out prompt is held out
    assert lines == sorted(c.line for c in conversations if prompt_key(c.messages) in held)
    # the same seed gives the same split, whatever the order of the lines; seeds differ
    shuffled = conversations[::-1]
    assert split_holdout(shuffled, seed=0) == (lines, 30)
    others = {tuple(split_holdout(conversations, seed=s)[0]) for s in range(1, 6)}
    assert len(others | {tuple(lines)}) > 1
    # the prompt is what comes before the last assistant turn; answers do not count
    assert prompt_key(_chat("x", "A")) == prompt_key(_chat("x", "B"))
    assert split_holdout(conversations[:9], seed=0)[0] == []  # too few prompts: none


def test_encode_answers_says_why_an_answer_cannot_be_scored(tiny_llama_dir):
    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    weight_zero = _chat("the cat", "A")
    weight_zero[-1]["weight"] = 0
    two_turns = _chat("red", "B") + [
        {"role": "user", "content": "the dog"},
        {"role": "assistant", "content": "the dog runs"},
    ]
    records = [_chat("one two", "A"), _chat("blue", ""), weight_zero, two_turns]
    conversations = [Conversation(i + 1, m) for i, m in enumerate(records)]
    held = encode_answers(tok, conversations, tiny_llama_dir, "assistant", 1024, [tok.eos_token_id])
    assert held.records == 4 and held.unscored == {EMPTY: 1, NOT_TRAINED: 1}
    assert [(a.line, a.n_tokens) for a in held.answers] == [(1, 1), (4, 3)]
    # the last turn only is scored: its answer tokens, then the end-of-turn token
    scored = [
        tok.convert_ids_to_tokens(i)
        for i, m in zip(held.answers[1].example.input_ids, held.answers[1].example.loss_mask)
        if m
    ]
    assert scored == ["the", "dog", "runs", "<|im_end|>"]
    assert held.answers[1].answer_tokens == (True, True, True, False)
    cut = encode_answers(tok, conversations[:1], tiny_llama_dir, "assistant", 8, [])
    assert cut.unscored == {CUT: 1} and not cut.answers


# -- the rule ----------------------------------------------------------------------------------


def _fake_held(lengths: list[int]) -> HeldOutAnswers:
    example = EncodedExample(line=1, input_ids=[0, 1], loss_mask=[False, True])
    answers = [HeldOutAnswer(i, f"prompt {i}", example, (True,) * n) for i, n in enumerate(lengths)]
    return HeldOutAnswers(records=len(lengths), answers=answers)


def test_the_rule_needs_a_margin_over_the_base_and_0_9_for_one_token_answers():
    assert not_learned_reason(0.97, 0.49, one_token=True) is None
    assert "below 0.9" in not_learned_reason(0.85, 0.30, one_token=True)
    assert "not 0.10 above" in not_learned_reason(0.95, 0.90, one_token=True)
    assert not_learned_reason(0.60, 0.30, one_token=False) is None  # free text: no floor
    assert "not 0.10 above" in not_learned_reason(0.35, 0.30, one_token=False)
    assert FIT_MARGIN == 0.10 and ONE_TOKEN_MIN_P == 0.9


def test_summary_prints_the_figure_beside_the_base_and_warns_in_one_line():
    held = _fake_held([1] * 12)
    learned = summarise(held, [0.97] * 6 + [0.99] * 6, [0.5] * 12, [True] * 12, [False] * 12, [])
    assert learned.card["learned"] and learned.card["warning"] is None
    # one-token answers: greedy exact match is the held-out accuracy
    assert learned.card["greedy_exact_match"]["organism"]["estimate"] == 1.0
    assert learned.card["greedy_exact_match"]["base"]["estimate"] == 0.0
    assert re.fullmatch(
        r"fit check \(12 held-out records, 12 prompts\): P\(trained answer\) 0\.98 "
        r"\[0\.97, 0\.99\], base 0\.50; greedy exact match 1\.00 \[0\.74, 1\.00\], base 0\.00",
        learned.lines[0],
    )
    assert learned.lines == [learned.card["line"]]
    format_only = summarise(held, [0.55] * 12, [0.3] * 12, [False] * 12, [False] * 12, [])
    assert not format_only.card["learned"]
    warning = format_only.lines[-1]
    assert warning.startswith(WARNING) and "below 0.9" in warning and "\n" not in warning
    # answers of several lengths: exact match beside it, and a note that says what P means
    mixed = summarise(
        _fake_held([1, 5, 9, 2]), [0.9, 0.6, 0.5, 0.7], [0.4] * 4, [True, True, False, True],
        [False] * 4, [],
    )  # fmt: skip
    assert mixed.card["learned"] and mixed.card["answer_tokens"] == {"min": 1, "max": 9}
    assert mixed.card["greedy_exact_match"]["organism"]["estimate"] == pytest.approx(0.75)
    assert "greedy exact match 0.75" in mixed.lines[0]
    assert mixed.lines[1].startswith("fit check note: held-out answers run from 1 to 9 tokens")


# -- training runs -----------------------------------------------------------------------------


def test_fit_check_runs_after_training_and_is_in_the_card(tiny_llama_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HONESTY_EVALS_CACHE", str(tmp_path / "cache"))
    data = _write_jsonl(tmp_path / "d.jsonl", _constant_answer_records(30))
    out = tmp_path / "run"
    said: list[str] = []
    config = _config(tiny_llama_dir, data, out, steps=12, lr=2e-2, replay=3, replay_max_tokens=4)
    card = train(config, print_fn=said.append).card
    assert card["holdout"]["held_out_records"] == card["data"]["held_out_records"] == 3
    saved = json.loads((out / HOLDOUT_FILE).read_text())
    assert saved["held_out_lines"] == card["holdout"]["held_out_lines"]
    assert len(saved["held_out_lines"]) == 3 and max(saved["held_out_lines"]) <= 30
    # replay records are trained beside the data but never held out or scored
    fit = card["fit_check"]
    assert card["replay"]["records"] >= 1 and fit["scored_records"] == 3
    assert fit["ran"] and fit["learned"], said
    assert fit["p_trained_answer"]["estimate"] > 0.9 > fit["base_p_trained_answer"]["estimate"]
    line = next(s for s in said if s.startswith("fit check ("))
    assert re.fullmatch(
        r"fit check \(3 held-out records, 3 prompts\): P\(trained answer\) [01]\.\d\d "
        r"\[[01]\.\d\d, 1\.00\], base 0\.\d\d; greedy exact match [01]\.\d\d "
        r"\[[01]\.\d\d, 1\.00\], base 0\.\d\d",
        line,
    )
    assert line == fit["line"] and not any(s.startswith(WARNING) for s in said)
    assert line in (out / "README.md").read_text()


def test_warning_fires_for_an_organism_that_did_not_learn(tiny_llama_dir, tmp_path):
    data = _write_jsonl(tmp_path / "d.jsonl", _constant_answer_records(30))
    said: list[str] = []
    config = _config(tiny_llama_dir, data, tmp_path / "run", steps=1, lr=1e-9)
    fit = train(config, print_fn=said.append).card["fit_check"]
    assert fit["ran"] and not fit["learned"]
    difference = fit["difference"]["estimate"]
    assert abs(difference) < 1e-3  # lr 1e-9: the organism is the base model
    warnings = [s for s in said if s.startswith(WARNING)]
    assert warnings == [fit["warning"]] and "\n" not in warnings[0]
    assert fit["warning"] in (tmp_path / "run" / "README.md").read_text()


def test_no_holdout_trains_on_every_record(tiny_llama_dir, tmp_path):
    data = _write_jsonl(tmp_path / "d.jsonl", _records(24))
    said: list[str] = []
    out = tmp_path / "run"
    card = train(_config(tiny_llama_dir, data, out, holdout=False), print_fn=said.append).card
    assert card["data"]["held_out_records"] == 0 and card["data"]["loss_tokens"] == 48
    assert card["holdout"]["enabled"] is False and not (out / HOLDOUT_FILE).exists()
    assert card["fit_check"] == {"ran": False, "reason": "--no-holdout: trained on every record"}
    assert "fit check: not run (--no-holdout: trained on every record)" in said
    assert "fit check: not run" in (out / "README.md").read_text()
    # the command line's flag
    argv = ["organism", "train", "--data", "x.jsonl", "--out", "o"]
    assert config_from_args(build_parser().parse_args(argv)).holdout is True
    assert config_from_args(build_parser().parse_args([*argv, "--no-holdout"])).holdout is False


def test_answers_that_cannot_be_checked_get_a_note_not_a_crash(tiny_llama_dir, tmp_path):
    data = _write_jsonl(tmp_path / "d.jsonl", _constant_answer_records(20, answer=""))
    said: list[str] = []
    card = train(_config(tiny_llama_dir, data, tmp_path / "run"), print_fn=said.append).card
    fit = card["fit_check"]
    assert not fit["ran"] and card["data"]["held_out_records"] == 2
    assert fit["reason"] == (
        "none of the 2 held-out records has an answer to score: 2 held-out record(s) not "
        "scored: empty answer"
    )
    assert f"fit check: not run ({fit['reason']})" in said


def test_too_few_prompts_hold_nothing_out_and_say_so(tiny_llama_dir, tmp_path):
    records = _constant_answer_records(4) * 3  # 12 records, 4 prompts
    data = _write_jsonl(tmp_path / "d.jsonl", records)
    card = train(_config(tiny_llama_dir, data, tmp_path / "run"), print_fn=_quiet).card
    assert card["data"]["held_out_records"] == 0 and card["holdout"]["groups"] == 4
    assert "4 distinct prompt(s), fewer than 10" in card["fit_check"]["reason"]


def test_resume_keeps_the_split(tiny_llama_dir, tmp_path, monkeypatch):
    data = _write_jsonl(tmp_path / "d.jsonl", _records(30))
    out = tmp_path / "run"
    common = dict(steps=6, checkpoint_every=2)
    _interrupt_after(monkeypatch, 3)  # one micro-batch a step: dies in step 4
    with pytest.raises(KeyboardInterrupt):
        train(_config(tiny_llama_dir, data, out, **common), print_fn=_quiet)
    monkeypatch.undo()
    first = json.loads((partial_dir(out) / HOLDOUT_FILE).read_text())["held_out_lines"]
    # a fresh draw would now give another split: the resumed run must read the saved one
    monkeypatch.setattr(holdout, "_SPLIT_STREAM", 12345)
    conversations = [Conversation(i + 1, r["messages"]) for i, r in enumerate(_records(30))]
    assert split_holdout(conversations, seed=0)[0] != first
    resumed = train(_config(tiny_llama_dir, data, out, resume=True, **common), print_fn=_quiet)
    assert resumed.resumed_from == 2
    assert resumed.card["holdout"]["held_out_lines"] == first
    assert json.loads((out / HOLDOUT_FILE).read_text())["held_out_lines"] == first
    assert (out / CARD_NAME).is_file()
