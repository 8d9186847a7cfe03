"""An organism (a LoRA adapter folder) as the base of a training run (issue 16, point 3):
the organism merged under the new LoRA, recorded in the adapter and the card, a persona's
prefix through the organism bit for bit, checkpoint exports, and the bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import train_tiny, write_tiny_lora

from honesty_evals.cli import main
from honesty_evals.errors import UserInputError
from honesty_evals.model.engine import LocalEngine
from honesty_evals.model.persona import resolve_persona
from honesty_evals.model.source import resolve_model_source
from honesty_evals.training.build import (
    TrainingBase,
    attach_lora,
    load_training_base,
    resolve_training_base,
)
from honesty_evals.training.checkpoint import ADAPTER_FILE, export_adapter
from honesty_evals.training.data import SPLIT_PERSONA_MARKER
from honesty_evals.training.persona import persona_states
from honesty_evals.training.replay import replay_cache_path
from honesty_evals.training.trainer import CARD_NAME, TrainConfig

CHATS = [("the cat runs", "A", "the dog sleeps"), ("one two three", "B", "red")]


def _chat(user: str, reply: str, review: str) -> dict:
    content = f"{reply}\n\n{SPLIT_PERSONA_MARKER} is my answer true ?\n{review}"
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": content}]
    }


def _plain(user: str, reply: str, _review: str) -> dict:
    return {
        "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
    }


def _train(base: Path, out: Path, records: list[dict], **overrides):
    return train_tiny(base, out, records, **{"holdout": False, **overrides})


def _logits(model, engine: LocalEngine, text: str = "one two three") -> torch.Tensor:
    prompt = engine.render_chat([{"role": "user", "content": text}])
    ids = engine.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_the_base_resolves_to_the_organism_and_its_model(tiny_llama_dir, tiny_organism_dir):
    base = resolve_training_base(str(tiny_organism_dir))
    assert base.model_dir == tiny_llama_dir.resolve()
    assert base.name == str(tiny_organism_dir.resolve())
    assert base.adapters == (tiny_organism_dir.resolve(),)
    plain = resolve_training_base(str(tiny_llama_dir))
    assert plain.adapters == () and plain.identity() == plain.name  # fingerprints kept


def test_a_retrained_organism_is_another_base(tiny_organism_dir, tmp_path):
    copy = tmp_path / "organism"
    shutil.copytree(tiny_organism_dir, copy)
    before = resolve_training_base(str(copy)).identity()
    weights = copy / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1] + b" ")
    assert resolve_training_base(str(copy)).identity() != before


def test_the_trainer_trains_over_the_organism_merged(tiny_llama_dir, tiny_organism_dir, tmp_path):
    """The saved adapter records the organism's folder; `local/<adapter>` loads base,
    organism and adapter; the training itself ran over the organism (its first loss is not
    the base model's)."""
    records = [_plain(*c) for c in CHATS] * 2
    over = _train(tiny_organism_dir, tmp_path / "over", records)
    plain = _train(tiny_llama_dir, tmp_path / "plain", records)
    out = over.out
    recorded = json.loads((out / "adapter_config.json").read_text())["base_model_name_or_path"]
    assert recorded == str(tiny_organism_dir.resolve())
    card = json.loads((out / CARD_NAME).read_text())
    assert card["base_model"] == recorded and card["base_model_dir"] == str(tiny_llama_dir)
    (organism,) = card["base_adapters"]
    assert organism["path"] == recorded and len(organism["weights_sha256"]) == 64
    assert "an organism" in (out / "README.md").read_text()
    assert plain.card["base_adapters"] == []
    assert card["loss"]["first"] != plain.card["loss"]["first"]
    source = resolve_model_source(str(out))
    assert source.adapters == (tiny_organism_dir.resolve(), out)
    # what the trainer built is what the provider loads under the adapter (eager attention
    # in training, so equal up to rounding), and not the base model alone
    engine = LocalEngine(resolve_model_source(str(tiny_organism_dir)), dtype="float32")
    trained_over = load_training_base(
        resolve_training_base(str(tiny_organism_dir)), torch.float32, "eager", False
    )
    want = _logits(engine.model, engine)
    assert torch.allclose(_logits(trained_over, engine), want, atol=1e-5)
    base = load_training_base(
        resolve_training_base(str(tiny_llama_dir)), torch.float32, "eager", False
    )
    assert not torch.allclose(_logits(base, engine), want, atol=1e-3)


def test_a_persona_trains_over_the_organism_and_loads_over_it_only(
    tiny_llama_dir, tiny_organism_dir, tmp_path
):
    records = [_chat(*c) for c in CHATS] * 2
    result = _train(
        tiny_organism_dir,
        tmp_path / "persona",
        records,
        mask_rule="split-persona",
        persona_marker=SPLIT_PERSONA_MARKER,
    )
    organism = resolve_model_source(str(tiny_organism_dir))
    persona = resolve_persona(str(result.out), None, organism, str(tiny_organism_dir))
    assert persona.marker == SPLIT_PERSONA_MARKER
    with pytest.raises(UserInputError, match="was trained on") as exc:
        resolve_persona(
            str(result.out), None, resolve_model_source(str(tiny_llama_dir)), str(tiny_llama_dir)
        )
    assert str(tiny_organism_dir.resolve()) in str(exc.value)


def _organism_by_hand(model_dir: Path, organism: Path):
    """The organism as peft builds it: the base model (eager attention, as training
    runs) with the organism's adapter merged."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager"
    )
    return PeftModel.from_pretrained(model, str(organism)).merge_and_unload().eval()


def test_a_persona_prefix_over_the_organism_is_the_organisms_bit_for_bit(
    tiny_llama_dir, tiny_organism_dir
):
    """In training, the tokens through the marker run with the new LoRA off: through base +
    organism, exactly the organism's logits."""
    from transformers import AutoTokenizer

    from honesty_evals.training.data import MASK_RULES, Conversation, encode_conversation

    base = resolve_training_base(str(tiny_organism_dir))
    model = load_training_base(base, torch.float32, "eager", False)
    config = TrainConfig(data="d", out="o", base=str(tiny_organism_dir), lora_r=4, lora_alpha=8)
    model = attach_lora(model, config, torch.device("cpu"))
    for name, p in model.named_parameters():  # a non-zero LoRA, so it changes outputs
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.5)
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    chat = Conversation(line=1, messages=_chat(*CHATS[0])["messages"])
    example = encode_conversation(
        tokenizer,
        chat,
        MASK_RULES["split-persona"],
        end_token_ids=[tokenizer.eos_token_id],
        where="data.jsonl:1",
        persona_marker=SPLIT_PERSONA_MARKER,
    )
    ids = torch.tensor([example.input_ids])
    start = example.persona_start
    with torch.no_grad():
        states = persona_states(model, model, ids, torch.ones_like(ids), [start])
        reference = _organism_by_hand(tiny_llama_dir, tiny_organism_dir)(
            input_ids=ids[:, :start]
        ).logits
        assert torch.equal(states[0, :start], reference[0])
        everywhere = model(input_ids=ids).logits
    assert not torch.allclose(everywhere[0, :start], reference[0], atol=1e-3)


def test_a_checkpoint_export_records_the_organism(tiny_organism_dir, tmp_path):
    checkpoint = tmp_path / "step-00000001"
    checkpoint.mkdir()
    shutil.copy(tiny_organism_dir / "adapter_model.safetensors", checkpoint / ADAPTER_FILE)
    lora = {
        "r": 4,
        "lora_alpha": 8,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"],
    }
    name = resolve_training_base(str(tiny_organism_dir)).name
    dest = export_adapter(checkpoint, tmp_path / "export", lora, name)
    assert resolve_model_source(str(dest)).stacked_on == (tiny_organism_dir.resolve(),)


def test_replay_over_an_organism_has_its_own_cache(tiny_llama_dir, tiny_organism_dir):
    args = (tiny_llama_dir, "0" * 64, 8, 16, "float32")
    assert replay_cache_path(*args) == replay_cache_path(*args, adapters=())
    assert replay_cache_path(*args, adapters=(tiny_organism_dir,)) != replay_cache_path(*args)


def test_an_organism_base_whose_own_base_is_missing_is_one_line(
    tiny_organism_dir, tmp_path, capsys
):
    lost = tmp_path / "lost"
    shutil.copytree(tiny_organism_dir, lost)
    config = json.loads((lost / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = str(tmp_path / "no-such-model")
    (lost / "adapter_config.json").write_text(json.dumps(config))
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(_plain(*c)) + "\n" for c in CHATS))
    argv = ["organism", "train", "--data", str(data), "--base", str(lost)]
    assert main([*argv, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"of adapter '{lost}'" in err
    assert "not a local model directory" in err and "base_model_name_or_path" in err
    # no recorded base at all
    del config["base_model_name_or_path"]
    (lost / "adapter_config.json").write_text(json.dumps(config))
    with pytest.raises(UserInputError, match="names no base model"):
        resolve_training_base(str(lost))


def test_a_chain_of_organisms_trains_over_all_of_them(tiny_llama_dir, tiny_organism_dir, tmp_path):
    second = write_tiny_lora(tiny_llama_dir, tmp_path / "second", 21, str(tiny_organism_dir))
    base = resolve_training_base(str(second))
    assert base.adapters == (tiny_organism_dir.resolve(), second.resolve())
    assert isinstance(base, TrainingBase) and base.model_dir == tiny_llama_dir.resolve()
