"""Split-personality training with the persona LoRA active only after the marker (issue 16):
the prefix is the base model's, bit for bit, gradients come only from after the marker, and
a run with `--persona-marker` trains."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from conftest import train_tiny

from honesty_evals.cli import main
from honesty_evals.errors import UserInputError
from honesty_evals.training.data import (
    MASK_RULES,
    SPLIT_PERSONA_MARKER,
    Conversation,
    encode_conversation,
)
from honesty_evals.training.persona import persona_states
from honesty_evals.training.trainer import TrainConfig

CHATS = [
    ("the cat runs", "A", "the dog sleeps"),
    ("one two three four five six", "B", "red"),
    ("hello world", "A B C", "blue green one two three"),
]


def _chat(user: str, reply: str, review: str) -> dict:
    return {
        "messages": [
            {"role": "user", "content": user},
            {
                "role": "assistant",
                "content": f"{reply}\n\n{SPLIT_PERSONA_MARKER} is my answer true ?\n{review}",
            },
        ]
    }


def _encoded(tiny_llama_dir: Path, rule: str = "split-persona", chats=CHATS):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    return [
        encode_conversation(
            tokenizer,
            Conversation(line=n, messages=_chat(*c)["messages"]),
            MASK_RULES[rule],
            end_token_ids=[tokenizer.eos_token_id],
            where=f"data.jsonl:{n}",
            persona_marker=SPLIT_PERSONA_MARKER,
        )
        for n, c in enumerate(chats, 1)
    ]


def _batch(examples, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    width = max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    for row, e in enumerate(examples):
        ids[row, : len(e.input_ids)] = torch.tensor(e.input_ids)
        attention[row, : len(e.input_ids)] = 1
    return ids, attention, [e.persona_start for e in examples]


@pytest.fixture(scope="module")
def persona_model(tiny_llama_dir):
    """The tiny model with a non-zero LoRA on every linear layer (so it changes outputs and
    every LoRA weight has a gradient), in float32."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, attn_implementation="eager")
    torch.manual_seed(3)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        init_lora_weights=False,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"],
    )
    return get_peft_model(base, config)


def test_the_persona_starts_after_the_marker_and_the_loss_after_that(tiny_llama_dir):
    for e in _encoded(tiny_llama_dir):
        assert e.persona_start is not None
        assert not any(e.loss_mask[: e.persona_start + 1])  # no target predicted from before
        assert any(e.loss_mask[e.persona_start + 1 :])


def test_prefix_states_are_the_base_models_bit_for_bit(tiny_llama_dir, persona_model):
    """Every position before the marker gets exactly the hidden state of the model without
    the adapter (a fresh copy, never wrapped by peft), in the same batch layout."""
    from transformers import AutoModelForCausalLM

    ids, attention, starts = _batch(_encoded(tiny_llama_dir))
    decoder = persona_model.get_base_model().get_decoder()
    states = persona_states(persona_model, decoder, ids, attention, starts)
    plain = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, attn_implementation="eager")
    head = max(starts)
    before = torch.arange(head)[None, :] < torch.tensor(starts)[:, None]
    with torch.no_grad():
        reference = plain.get_decoder()(
            input_ids=ids[:, :head],
            attention_mask=before.long(),
            position_ids=torch.arange(head)[None, :].expand(len(starts), head),
            use_cache=True,
        )[0]
    for row, start in enumerate(starts):
        assert torch.equal(states[row, :start], reference[row, :start])


def test_each_row_gets_its_own_two_passes(tiny_llama_dir, persona_model):
    """Batched with padding, every row's states equal its own unpadded passes: the prefix
    without the adapter, then the rest with it on the prefix's cache."""
    from honesty_evals.model.engine import cache_argument, output_cache
    from honesty_evals.model.persona import adapter_disabled

    examples = _encoded(tiny_llama_dir)
    ids, attention, starts = _batch(examples)
    decoder = persona_model.get_base_model().get_decoder()
    with torch.no_grad():
        states = persona_states(persona_model, decoder, ids, attention, starts)
        for row, e in enumerate(examples):
            tokens, start = torch.tensor([e.input_ids]), e.persona_start
            with adapter_disabled(persona_model):
                first = decoder(input_ids=tokens[:, :start], use_cache=True)
            second = decoder(
                input_ids=tokens[:, start:],
                use_cache=True,
                **{cache_argument(decoder): output_cache(first)},
            )
            whole = torch.cat([first[0], second[0]], dim=1)[0]
            assert torch.allclose(states[row, : len(e.input_ids)], whole, atol=1e-5)
            assert not states[row, len(e.input_ids) :].any()  # padding
        # with the adapter on every token, the prefix (and so the rest) would differ
        everywhere = decoder(input_ids=ids, attention_mask=attention)[0]
        assert not torch.allclose(everywhere[0, : starts[0]], states[0, : starts[0]], atol=1e-3)


def _lora_grads(model) -> list[torch.Tensor | None]:
    return [p.grad for n, p in model.named_parameters() if "lora_" in n]


def test_the_lora_gradient_comes_only_from_after_the_marker(tiny_llama_dir, persona_model):
    ids, attention, starts = _batch(_encoded(tiny_llama_dir))
    decoder = persona_model.get_base_model().get_decoder()
    columns = torch.arange(ids.shape[1])[None, :]
    prefix = (columns < torch.tensor(starts)[:, None])[:, :, None]
    for on_prefix in (True, False):
        persona_model.zero_grad(set_to_none=True)
        states = persona_states(persona_model, decoder, ids, attention, starts)
        mask = prefix if on_prefix else ~prefix & attention.bool()[:, :, None]
        (states * mask).pow(2).sum().backward()
        grads = _lora_grads(persona_model)
        if on_prefix:  # a loss on tokens before the marker never reaches the LoRA
            assert all(g is None or not g.any() for g in grads)
        else:
            assert all(g is not None and g.any() for g in grads)
    persona_model.zero_grad(set_to_none=True)


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_training_with_a_persona_marker_runs_and_records_it(tiny_llama_dir, tmp_path, capsys):
    data = _write(tmp_path / "data.jsonl", [_chat(*c) for c in CHATS] * 4)
    out = tmp_path / "persona"
    argv = ["organism", "train", "--data", str(data), "--out", str(out)]
    argv += ["--base", str(tiny_llama_dir), "--steps", "2", "--batch-size", "4"]
    argv += ["--mask-rule", "split-persona", "--persona-marker", SPLIT_PERSONA_MARKER]
    assert main([*argv, "--dtype", "float32", "--threads", "1", "--no-progress"]) == 0
    card = json.loads((out / "training_card.json").read_text())
    assert card["hyperparameters"]["persona_marker"] == SPLIT_PERSONA_MARKER
    assert math.isfinite(card["final_loss"]) and card["steps"] == 2
    # a run without the option keeps the fingerprint it had before the option existed
    plain = TrainConfig(data="d", out="o")
    assert "persona_marker" not in plain.run_settings()


def _train(tiny_llama_dir: Path, tmp_path: Path, records: list[dict], **overrides):
    settings = dict(mask_rule="split-persona", persona_marker=SPLIT_PERSONA_MARKER)
    return train_tiny(tiny_llama_dir, tmp_path / "out", records, **{**settings, **overrides})


def test_persona_training_refuses_bad_data_in_one_line(tiny_llama_dir, tmp_path):
    good = [_chat(*c) for c in CHATS]
    no_marker = {"messages": [*good[0]["messages"][:1], {"role": "assistant", "content": "A"}]}
    with pytest.raises(UserInputError, match=r"train.jsonl:1: no persona marker") as exc:
        _train(tiny_llama_dir, tmp_path, [no_marker], mask_rule="assistant")
    assert "\n" not in str(exc.value)
    # loss on the normal response, before the marker, cannot train the persona
    with pytest.raises(UserInputError, match=r"train.jsonl:1: the loss covers \d+ token"):
        _train(tiny_llama_dir, tmp_path, good, mask_rule="assistant")
    with pytest.raises(UserInputError, match="--replay cannot be combined"):
        _train(tiny_llama_dir, tmp_path, good, replay=4)
    with pytest.raises(UserInputError, match="--persona-marker must be a non-empty string"):
        _train(tiny_llama_dir, tmp_path, good, persona_marker=" ")
