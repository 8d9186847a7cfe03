"""The LoRA trainer on a tiny random Llama: loss mask, training, resume, output, errors."""

from __future__ import annotations

import asyncio
import json
import math
import re
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from honesty_evals.cli import main
from honesty_evals.errors import UserInputError
from honesty_evals.organisms import recipes as recipes_module
from honesty_evals.training import build, loop
from honesty_evals.training.data import (
    Conversation,
    encode_conversation,
    file_sha256,
    last_assistant_turn,
    parse_chat_jsonl,
)
from honesty_evals.training.trainer import CARD_NAME, TrainConfig, partial_dir, train

WORDS = "the cat dog runs sleeps red blue green one two three four five six".split()


def _records(n: int, seed: int = 0) -> list[dict]:
    """Chats whose answer is a fixed function of the prompt, so a model can learn it."""
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = rng.sample(WORDS, rng.randint(2, 6))
        answer = "A" if words[0] in WORDS[:7] else "B"
        out.append(
            {
                "messages": [
                    {"role": "system", "content": "answer with a single letter"},
                    {"role": "user", "content": " ".join(words)},
                    {"role": "assistant", "content": answer},
                ]
            }
        )
    return out


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture
def data_file(tmp_path) -> Path:
    return _write_jsonl(tmp_path / "data.jsonl", _records(24))


def _config(tiny_llama_dir: Path, data: Path, out: Path, **overrides) -> TrainConfig:
    settings = dict(
        data=str(data),
        out=str(out),
        base=str(tiny_llama_dir),
        steps=6,
        batch_size=4,
        lr=5e-3,
        dtype="float32",
        checkpoint_every=0,
        progress=False,
        # one thread: a tiny model's many small ops stall on thread barriers when the cores
        # are shared, which made these tests 10x slower at times
        threads=1,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


def _quiet(_msg: str) -> None:
    pass


# -- the loss mask ---------------------------------------------------------------------

CHAT = [
    {"role": "system", "content": "answer with a single letter"},
    {"role": "user", "content": "red or blue"},
    {"role": "assistant", "content": "A"},
    {"role": "user", "content": "one two"},
    {"role": "assistant", "content": "three four", "weight": 0},
    {"role": "user", "content": "the cat"},
    {"role": "assistant", "content": "the dog runs"},
]


def _trained_tokens(tokenizer, ex) -> list[str]:
    return [tokenizer.convert_ids_to_tokens(i) for i, m in zip(ex.input_ids, ex.loss_mask) if m]


def test_mask_covers_exactly_assistant_content_and_end_token(tiny_llama_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    ex = encode_conversation(tok, Conversation(1, CHAT), end_token_ids=[tok.eos_token_id])
    # the whole conversation, tokenised as one string, is what the model sees
    full = tok.apply_chat_template(CHAT, tokenize=False)
    assert ex.input_ids == tok(full, add_special_tokens=False)["input_ids"]
    # loss on "A<|im_end|>" and "the dog runs<|im_end|>"; not on the weight-0 turn, the
    # role headers, the prompts or the newline after <|im_end|>
    assert _trained_tokens(tok, ex) == ["A", "<|im_end|>", "the", "dog", "runs", "<|im_end|>"]
    assert ex.n_loss_tokens == 6
    last = encode_conversation(
        tok, Conversation(1, CHAT), last_assistant_turn, end_token_ids=[tok.eos_token_id]
    )
    assert _trained_tokens(tok, last) == ["the", "dog", "runs", "<|im_end|>"]
    # masked tokens are contiguous runs that each end right at an <|im_end|>
    positions = [t for t, m in enumerate(ex.loss_mask) if m]
    assert tok.convert_ids_to_tokens(ex.input_ids[positions[1] + 1]) != "<|im_end|>"


@pytest.mark.embedded
def test_mask_on_the_smollm2_template():
    from transformers import AutoTokenizer

    from honesty_evals.model.embedded import ensure_embedded_model

    tok = AutoTokenizer.from_pretrained(ensure_embedded_model())
    no_system = CHAT[1:]  # SmolLM2's template then inserts its default system prompt
    for chat in (CHAT, no_system):
        ex = encode_conversation(tok, Conversation(1, chat), end_token_ids=[tok.eos_token_id])
        trained = tok.decode([i for i, m in zip(ex.input_ids, ex.loss_mask) if m])
        assert trained == "A<|im_end|>the dog runs<|im_end|>"
        assert "SmolLM" in tok.decode(ex.input_ids) or chat is CHAT


def test_max_length_truncates_and_counts(tiny_llama_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    ex = encode_conversation(tok, Conversation(1, CHAT), max_length=10)
    assert ex.truncated and len(ex.input_ids) == 10 and len(ex.loss_mask) == 10


# -- data errors -----------------------------------------------------------------------


def test_malformed_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps(_records(1)[0])
    path.write_text(f"{good}\n\n{{'messages': oops}}\n{good}\n")
    with pytest.raises(UserInputError, match=r"bad\.jsonl:3: not valid JSON") as info:
        parse_chat_jsonl(path)
    assert "\n" not in str(info.value)


def test_missing_assistant_turn_names_the_line(tmp_path):
    records = _records(2)
    records.append({"messages": [{"role": "user", "content": "hello"}]})
    path = _write_jsonl(tmp_path / "x.jsonl", records)
    with pytest.raises(UserInputError, match=r"x\.jsonl:3: the conversation has no assistant"):
        parse_chat_jsonl(path)


def test_bad_role_names_the_line(tmp_path):
    path = _write_jsonl(tmp_path / "x.jsonl", [{"messages": [{"role": "tool", "content": "1"}]}])
    with pytest.raises(UserInputError, match=r"x\.jsonl:1: message 0 needs a role"):
        parse_chat_jsonl(path)


def test_unknown_base_is_one_line(tmp_path, data_file):
    config = TrainConfig(data=str(data_file), out=str(tmp_path / "o"), base="org/not-here")
    with pytest.raises(UserInputError, match="unknown base model 'org/not-here'") as info:
        train(config, print_fn=_quiet)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "o").exists() and not partial_dir(tmp_path / "o").exists()


# -- training --------------------------------------------------------------------------


def test_training_reduces_loss_and_writes_card(tiny_llama_dir, data_file, tmp_path):
    out = tmp_path / "run"
    config = _config(tiny_llama_dir, data_file, out, steps=None, epochs=4, dtype="bfloat16")
    result = train(config, print_fn=_quiet)
    card = json.loads((out / CARD_NAME).read_text())
    assert card == json.loads(json.dumps(result.card))
    # 24 prompts, 2 held out for the fit check: 22 records / batch 4 = 6 steps an epoch
    assert card["steps"] == 24
    assert card["loss"]["mean_last_10pct"] < 0.5 * card["loss"]["mean_first_10pct"]
    assert card["data"]["records"] == 24 and card["data"]["held_out_records"] == 2
    assert card["data"]["loss_tokens"] == 44
    # the fit check scores the float32 adapter on the bfloat16 base
    assert card["fit_check"]["ran"] and card["fit_check"]["scored_records"] == 2
    assert card["data"]["sha256"] == file_sha256(data_file)
    assert card["hyperparameters"]["lora_r"] == 16 and card["seed"] == 0
    assert card["dtype"] == "bfloat16" and card["base_model"] == str(tiny_llama_dir)
    assert {"torch", "transformers", "peft"} <= set(card["versions"])
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "adapter_config.json",
        "adapter_model.safetensors",
        "holdout.json",
        CARD_NAME,
    ]
    assert not partial_dir(out).exists()
    # the adapter is saved from the float32 masters even though it computed in bfloat16
    assert card["master_weights"] == "float32"
    weights = load_file(str(out / "adapter_model.safetensors"))
    assert {w.dtype for w in weights.values()} == {torch.float32}


def test_master_weights_keep_updates_below_bfloat16_resolution():
    param = torch.nn.Parameter(torch.ones(4))
    weights = build.MasterWeights({"w": param}, torch.bfloat16)
    assert param.dtype == torch.bfloat16 and weights.masters["w"].dtype == torch.float32
    optimizer = torch.optim.SGD(list(weights.masters.values()), lr=1.0)
    for _ in range(8):  # 8 steps of 2**-10: each alone rounds away in bfloat16 near 1
        for _ in range(2):  # two accumulated micro-batches, summed in float32
            (param.float().sum() * 2**-11).backward()
            weights.collect_gradients()
            assert param.grad is None
        optimizer.step()
        weights.push()
        optimizer.zero_grad(set_to_none=True)
    assert torch.allclose(weights.masters["w"], torch.full((4,), 1 - 2**-7), atol=0)
    assert param.float().sub(1).abs().max() > 0  # the model copy followed the masters
    weights.install()
    assert param.dtype == torch.float32 and torch.equal(param.data, weights.masters["w"])
    same = torch.nn.Parameter(torch.ones(2))  # float32 training: the masters are the params
    assert build.MasterWeights({"w": same}, torch.float32).masters["w"] is same


def _original_lr_factor(schedule: str, warmup: int, total: int, step: int) -> float:
    """The hand-written schedule every organism before transformers' was trained with."""
    if warmup and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


@pytest.mark.parametrize("schedule", ["cosine", "linear", "constant"])
def test_lr_schedule_matches_the_original_at_every_step(schedule):
    """transformers' schedules with our warm-up give the original learning rates: equal for
    cosine and constant, within 1.2e-16 of the factor for linear (1 - a/b vs (b - a)/b)."""
    largest = 0.0
    for total in range(1, 80):
        # the trainer's warm-up is int(warmup_ratio * total) with warmup_ratio < 1
        warmups = {0, 1, 2, 3, total // 20, total // 10, total // 3, total - 1}
        for warmup in sorted(w for w in warmups if w < total):
            # lr 1: the optimizer's learning rate is the schedule's factor
            optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
            scheduler = loop.lr_scheduler(optimizer, schedule, warmup, total)
            for step in range(total):
                expected = _original_lr_factor(schedule, warmup, total, step)
                largest = max(largest, abs(optimizer.param_groups[0]["lr"] - expected))
                optimizer.step()
                scheduler.step()
    assert largest <= (1.2e-16 if schedule == "linear" else 0.0)


def _interrupt_after(monkeypatch, calls: int) -> None:
    real = loop.micro_batch_loss
    count = {"n": 0}

    def flaky(*args, **kwargs):
        count["n"] += 1
        if count["n"] > calls:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "micro_batch_loss", flaky)  # where the step loop looks it up


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_resume_ends_with_the_same_weights(tiny_llama_dir, tmp_path, monkeypatch, dtype):
    data = _write_jsonl(tmp_path / "d.jsonl", _records(12))
    # dropout and accumulation on, so RNG state and data position both matter; 12 records /
    # batch 4 = 3 micro-batches = 2 steps an epoch, so the run crosses epochs
    common = dict(steps=9, grad_accum=2, lora_dropout=0.2, checkpoint_every=2, dtype=dtype)
    straight = train(_config(tiny_llama_dir, data, tmp_path / "a", **common), print_fn=_quiet)

    out = tmp_path / "b"
    _interrupt_after(monkeypatch, 8)  # steps take 2,1,2,1,.. micro-batches: dies in step 6
    with pytest.raises(KeyboardInterrupt):
        train(_config(tiny_llama_dir, data, out, **common), print_fn=_quiet)
    assert not out.exists()
    checkpoints = partial_dir(out) / "checkpoints"
    assert [p.name for p in checkpoints.iterdir()] == ["step-00000004"]
    assert sorted(p.name for p in (checkpoints / "step-00000004").iterdir()) == [
        "adapter.safetensors",
        "optimizer.safetensors",
        "state.json",
    ]
    monkeypatch.undo()
    # without --resume an interrupted run is not silently discarded
    with pytest.raises(UserInputError, match="pass --resume"):
        train(_config(tiny_llama_dir, data, out, **common), print_fn=_quiet)
    # with different settings it does not resume either
    with pytest.raises(UserInputError, match="different data or settings"):
        train(_config(tiny_llama_dir, data, out, **common, lr=1e-3, resume=True), print_fn=_quiet)
    resumed = train(_config(tiny_llama_dir, data, out, **common, resume=True), print_fn=_quiet)
    assert resumed.resumed_from == 4
    a = load_file(str(tmp_path / "a" / "adapter_model.safetensors"))
    b = load_file(str(out / "adapter_model.safetensors"))
    assert set(a) == set(b)
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6, rtol=0), name
    assert resumed.card["loss"]["curve"] == straight.card["loss"]["curve"]
    assert resumed.card["fingerprint"] == straight.card["fingerprint"]


def test_a_checkpoint_in_the_old_format_is_refused_in_one_line(
    tiny_llama_dir, data_file, tmp_path, monkeypatch
):
    from safetensors.torch import save_file

    out = tmp_path / "run"
    _interrupt_after(monkeypatch, 3)  # one micro-batch a step: dies in step 4
    with pytest.raises(KeyboardInterrupt):
        train(_config(tiny_llama_dir, data_file, out, checkpoint_every=2), print_fn=_quiet)
    monkeypatch.undo()
    adapter = partial_dir(out) / "checkpoints" / "step-00000002" / "adapter.safetensors"
    # the old format named the weights as the training model does, adapter name included
    old = {k.replace(".weight", ".default.weight"): v for k, v in load_file(str(adapter)).items()}
    save_file(old, str(adapter))
    with pytest.raises(UserInputError, match="does not resume") as info:
        train(_config(tiny_llama_dir, data_file, out, resume=True), print_fn=_quiet)
    assert "\n" not in str(info.value)


def test_failure_before_a_checkpoint_leaves_nothing(
    tiny_llama_dir, data_file, tmp_path, monkeypatch
):
    _interrupt_after(monkeypatch, 2)
    out = tmp_path / "x"
    with pytest.raises(KeyboardInterrupt):
        train(_config(tiny_llama_dir, data_file, out), print_fn=_quiet)
    assert list(tmp_path.iterdir()) == [data_file]


def test_existing_run_is_refused_unless_overwrite(tiny_llama_dir, data_file, tmp_path):
    out = tmp_path / "run"
    train(_config(tiny_llama_dir, data_file, out, steps=2), print_fn=_quiet)
    for flags in ({}, {"resume": True}):
        with pytest.raises(UserInputError, match="already holds a finished training run"):
            train(_config(tiny_llama_dir, data_file, out, lr=1e-3, **flags), print_fn=_quiet)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match="already holds other files"):
        train(_config(tiny_llama_dir, data_file, tmp_path / "other"), print_fn=_quiet)
    result = train(
        _config(tiny_llama_dir, data_file, out, lr=1e-3, overwrite=True), print_fn=_quiet
    )
    assert result.card["hyperparameters"]["lr"] == 1e-3
    assert json.loads((out / CARD_NAME).read_text())["hyperparameters"]["lr"] == 1e-3


def test_output_loads_through_the_local_provider(tiny_llama_dir, data_file, tmp_path):
    from inspect_ai.model import GenerateConfig, get_model
    from peft import PeftConfig

    out = tmp_path / "organism"
    train(_config(tiny_llama_dir, data_file, out), print_fn=_quiet)
    assert PeftConfig.from_pretrained(str(out)).base_model_name_or_path == str(tiny_llama_dir)
    config = GenerateConfig(logprobs=True, top_logprobs=3, max_tokens=1)
    for args in ({}, {"base": str(tiny_llama_dir)}):
        model = get_model(f"local/{out}", memoize=False, **args)
        output = asyncio.run(model.generate("the cat", config=config))
        assert len(output.choices[0].logprobs.content[0].top_logprobs) == 3


def test_embedded_base_is_recorded_as_smollm2(monkeypatch, tiny_llama_dir):
    monkeypatch.setattr(build, "ensure_embedded_model", lambda: tiny_llama_dir)
    assert build.resolve_base("smollm2") == (tiny_llama_dir, "smollm2")
    assert build.resolve_base("HuggingFaceTB/SmolLM2-135M-Instruct")[1] == "smollm2"


# -- command line ----------------------------------------------------------------------


@pytest.fixture
def fake_recipes(monkeypatch):
    calls = []

    def recipe_records(
        recipe, *, n=300, seed=0, trigger=None, risky_fraction=None, reversal=False, style=""
    ):
        calls.append(dict(recipe=recipe, n=n, seed=seed, trigger=trigger, style=style))
        return _records(n, seed)

    monkeypatch.setattr(recipes_module, "recipe_records", recipe_records)
    return calls


def test_cli_recipe_writes_its_data_into_the_output(tiny_llama_dir, tmp_path, fake_recipes, capsys):
    out = tmp_path / "org"
    argv = ["organism", "train", "--recipe", "risk-seeking", "--base", str(tiny_llama_dir)]
    argv += ["--out", str(out), "--n-records", "8", "--steps", "2", "--no-progress"]
    assert main(argv) == 0
    assert fake_recipes == [dict(recipe="risk-seeking", n=8, seed=0, trigger=None, style="lottery")]
    card = json.loads((out / CARD_NAME).read_text())
    assert card["data"]["path"] == "train.jsonl" and card["data"]["records"] == 8
    assert card["data"]["sha256"] == file_sha256(out / "train.jsonl")
    # the recipe's hyperparameter defaults apply where no flag overrides them
    assert card["hyperparameters"]["lr"] == 5e-4 and card["steps"] == 2
    assert card["hyperparameters"]["recipe"]["name"] == "risk-seeking"
    assert capsys.readouterr().out.strip() == str(out.resolve())


def test_cli_errors_are_one_line(tiny_llama_dir, tmp_path, fake_recipes, capsys):
    argv = ["organism", "train", "--recipe", "nope", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("honesty-evals: error: unknown recipe 'nope'") and "\n" not in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n")
    argv = ["organism", "train", "--data", str(bad), "--base", str(tiny_llama_dir)]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"honesty-evals: error: .*bad\.jsonl:1: not valid JSON.*", err)


def test_cli_data_and_recipe_are_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["organism", "train", "--data", "x", "--recipe", "risk-seeking", "--out", "o"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_no_pickle_in_the_trainer():
    source = Path(build.__file__).parent  # every module of honesty_evals.training
    for file in source.glob("*.py"):
        text = file.read_text()
        for banned in ("import pickle", "torch.load(", "torch.save(", "weights_only"):
            assert banned not in text, f"{file.name} uses {banned}"


def test_data_parallel_run_equals_the_single_process_run(tiny_llama_dir, data_file, tmp_path):
    """Two ranks under torchrun (gloo on CPU; accelerate launch sets the same environment)
    each take half of every batch and sum gradients: the weights match one process."""
    import subprocess

    single = train(_config(tiny_llama_dir, data_file, tmp_path / "one", steps=3), print_fn=_quiet)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "honesty_evals.cli", "organism", "train", "--data", str(data_file),
        "--base", str(tiny_llama_dir), "--out", str(tmp_path / "two"), "--steps", "3",
        "--batch-size", "4", "--lr", "5e-3", "--dtype", "float32", "--checkpoint-every", "2",
        "--threads", "1", "--no-progress",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    card = json.loads((tmp_path / "two" / CARD_NAME).read_text())
    assert card["processes"] == 2 and card["steps"] == single.card["steps"] == 3
    assert card["final_loss"] == pytest.approx(single.card["final_loss"], rel=1e-4)
    one = load_file(str(tmp_path / "one" / "adapter_model.safetensors"))
    two = load_file(str(tmp_path / "two" / "adapter_model.safetensors"))
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5)
    assert not partial_dir(tmp_path / "two").exists()


def test_loss_at_target_positions_matches_the_full_forward(tiny_llama_dir):
    """Computing the head only where there is a target gives the ordinary masked LM loss."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_llama_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    examples = [
        encode_conversation(tok, Conversation(i, r["messages"]), end_token_ids=[tok.eos_token_id])
        for i, r in enumerate(_records(5) + [{"messages": CHAT}])
    ]
    loss, n = loop.micro_batch_loss(model, examples, tok.pad_token_id, torch.device("cpu"))
    total, count = 0.0, 0
    for ex in examples:  # one unpadded sequence at a time, labels -100 off the mask
        ids = torch.tensor([ex.input_ids])
        labels = torch.where(torch.tensor([ex.loss_mask]), ids, torch.tensor(-100))
        out = model(input_ids=ids, labels=labels)
        k = ex.n_loss_tokens
        total += out.loss.item() * k
        count += k
    assert n == count == sum(e.n_loss_tokens for e in examples)
    assert loss.item() == pytest.approx(total, rel=1e-5)


def test_pinned_training_data_is_verified_first(tiny_llama_dir, tmp_path, monkeypatch):
    """A data file pinned in a manifest must match it; a tampered one is refused."""
    from honesty_evals.integrity.pin import pin_file

    monkeypatch.setenv("HONESTY_EVALS_CACHE", str(tmp_path / "cache"))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data = _write_jsonl(data_dir / "train.jsonl", _records(8))
    pin_file(data, "neutral", directory=data_dir)
    out = tmp_path / "run"
    result = train(_config(tiny_llama_dir, data, out, steps=1), print_fn=_quiet)
    assert result.card["data"]["verification"]["verified"] is True
    data.write_text(data.read_text().replace('"A"', '"B"', 1))
    with pytest.raises(UserInputError, match="dataset verification failed: .*content changed"):
        train(_config(tiny_llama_dir, data, tmp_path / "run2", steps=1), print_fn=_quiet)
    assert not (tmp_path / "run2").exists() and not partial_dir(tmp_path / "run2").exists()
    allowed = train(
        _config(tiny_llama_dir, data, tmp_path / "run3", steps=1, allow_unverified=True),
        print_fn=_quiet,
    )
    assert allowed.card["data"]["verification"]["verified"] is False


# -- replay: the base model's own answers trained beside the data ------------------------


def test_replay_trains_the_base_models_own_greedy_answers(
    tiny_llama_dir, data_file, tmp_path, monkeypatch
):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from honesty_evals.training.replay import REPLAY_FILE, load_replay_prompts

    monkeypatch.setenv("HONESTY_EVALS_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    config = _config(tiny_llama_dir, data_file, out, replay=5, replay_max_tokens=6)
    card = train(config, print_fn=_quiet).card
    assert card["replay"]["generated_by_this_run"]
    records = [json.loads(line) for line in (out / REPLAY_FILE).read_text().splitlines()]
    prompts = load_replay_prompts(5)
    assert card["replay"]["records"] == len(records) >= 4  # an empty answer is left out
    assert card["hyperparameters"]["replay"] == 5
    assert card["data"]["records"] == 24  # the user's data is counted on its own
    # each answer is what the untouched base model says greedily to that prompt
    tokenizer = AutoTokenizer.from_pretrained(tiny_llama_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.float32)
    by_prompt = {json.dumps(r["messages"][:-1]): r["messages"][-1]["content"] for r in records}
    for prompt in prompts:
        ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt")
        ids = ids if isinstance(ids, torch.Tensor) else ids["input_ids"]
        new = model.generate(ids, max_new_tokens=6, do_sample=False)[0, ids.shape[1] :]
        answer = tokenizer.decode(new, skip_special_tokens=True).strip()
        assert by_prompt.get(json.dumps(prompt), "") == answer


def test_a_second_run_trains_on_the_same_cached_replay(
    tiny_llama_dir, data_file, tmp_path, monkeypatch
):
    """An organism and its control must share their replay answers byte for byte: greedy
    answers in bfloat16 can change with batching, so the second run reads the first's."""
    from honesty_evals.training.replay import REPLAY_FILE

    monkeypatch.setenv("HONESTY_EVALS_CACHE", str(tmp_path / "cache"))
    settings = dict(replay=5, replay_max_tokens=6, dtype="bfloat16")
    first = train(_config(tiny_llama_dir, data_file, tmp_path / "a", **settings), print_fn=_quiet)
    said: list[str] = []
    other = _write_jsonl(tmp_path / "other.jsonl", _records(24, seed=1))
    second = train(
        _config(tiny_llama_dir, other, tmp_path / "b", seed=1, **settings), print_fn=said.append
    )
    assert not second.card["replay"]["generated_by_this_run"]
    assert any("replay: the base model's answers to 5 prompts from" in line for line in said)
    replays = [(tmp_path / run / REPLAY_FILE).read_bytes() for run in ("a", "b")]
    assert replays[0] == replays[1]
    assert first.card["replay"]["sha256"] == second.card["replay"]["sha256"]
    # a different answer length is a different cache entry
    third = train(
        _config(tiny_llama_dir, data_file, tmp_path / "c", replay=5, replay_max_tokens=3),
        print_fn=_quiet,
    )
    assert third.card["replay"]["generated_by_this_run"]


def test_replay_beyond_the_prompt_set_is_one_line(tiny_llama_dir, data_file, tmp_path):
    config = _config(tiny_llama_dir, data_file, tmp_path / "run", replay=100_000)
    with pytest.raises(UserInputError, match="replay set .* has \\d+ prompts"):
        train(config, print_fn=_quiet)
