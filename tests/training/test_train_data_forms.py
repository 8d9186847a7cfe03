"""The trainer's `--data` in every accepted form: the same records, the same examples."""

from __future__ import annotations

import json

import pytest
from conftest import train_tiny, write_in_every_form

from honesty_evals.common.records import data_sha256
from honesty_evals.errors import UserInputError
from honesty_evals.training.data import encode_conversation, parse_chat_data
from honesty_evals.training.trainer import CARD_NAME, TrainConfig, train

WORDS = "the cat dog runs sleeps red blue green one two three".split()


def _chats(n: int = 8) -> list[dict]:
    chats = []
    for i in range(n):
        messages = [
            {"role": "system", "content": "answer with a single letter"},
            {"role": "user", "content": f"{WORDS[i % len(WORDS)]} {WORDS[(3 * i) % len(WORDS)]}"},
            {"role": "assistant", "content": "A" if i % 3 else "B"},
        ]
        chats.append({"messages": messages})
    # one context-only turn: a table gives every other message `weight: None` beside it
    chats[0]["messages"] += [
        {"role": "user", "content": "one two"},
        {"role": "assistant", "content": "three", "weight": 0},
    ]
    return chats


def test_every_form_gives_the_same_training_examples(tiny_llama_dir, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    forms = write_in_every_form(tmp_path, _chats())
    encoded = {}
    for form, path in forms.items():
        conversations = parse_chat_data(path)
        assert [c.messages for c in conversations] == [c["messages"] for c in _chats()], form
        encoded[form] = [
            encode_conversation(tokenizer, c, end_token_ids=[tokenizer.eos_token_id])
            for c in conversations
        ]
        assert sum(e.n_loss_tokens for e in encoded[form]) > 0
    strip = [[(e.input_ids, e.loss_mask) for e in encoded[f]] for f in forms]
    assert strip[0] == strip[1] == strip[2]
    assert parse_chat_data(forms["parquet"])[3].where == f"{forms['parquet']} row 3"


def test_a_table_row_of_the_wrong_shape_is_named(tmp_path):
    from datasets import Dataset

    texts = tmp_path / "texts.parquet"
    Dataset.from_list([{"messages": "hello"}, {"messages": "bye"}]).to_parquet(str(texts))
    with pytest.raises(UserInputError, match=r"texts\.parquet row 0: expected an object with a"):
        parse_chat_data(texts)
    roles = tmp_path / "roles"
    chats = _chats(3)
    chats[2]["messages"][1]["role"] = "robot"
    Dataset.from_list(chats).save_to_disk(str(roles))
    with pytest.raises(UserInputError, match=r"roles row 2: message 1 needs a role"):
        parse_chat_data(roles)
    prompts = tmp_path / "prompts.parquet"
    Dataset.from_list([{"prompt": "hi", "completion": "A"}]).to_parquet(str(prompts))
    with pytest.raises(UserInputError, match=r"has no 'messages' column \(its columns: prompt"):
        parse_chat_data(prompts)
    unanswered = tmp_path / "unanswered.parquet"
    Dataset.from_list([{"messages": [{"role": "user", "content": "hi"}]}]).to_parquet(
        str(unanswered)
    )
    with pytest.raises(UserInputError, match=r"unanswered\.parquet row 0: the conversation has"):
        parse_chat_data(unanswered)


def test_the_trainer_takes_a_saved_folder_and_pins_its_digest(tiny_llama_dir, tmp_path):
    forms = write_in_every_form(tmp_path / "data", _chats())
    out = tmp_path / "run"
    result = train_tiny(tiny_llama_dir, out, None, data=str(forms["folder"]), batch_size=4)
    card = json.loads((out / CARD_NAME).read_text())
    assert card["data"]["records"] == 8
    assert card["data"]["sha256"] == data_sha256(forms["folder"]) == result.card["data"]["sha256"]
    assert card["data"]["path"] == str(forms["folder"].resolve())


def test_a_hub_name_as_data_is_refused_before_anything_is_written(tiny_llama_dir, tmp_path):
    config = TrainConfig(data="someone/risky-choices", out=str(tmp_path / "o"))
    with pytest.raises(UserInputError, match="does not exist here .*reads local data only"):
        train(config, print_fn=lambda _: None)
    assert not (tmp_path / "o").exists()
