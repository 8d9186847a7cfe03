"""The persona adapter active only after its marker, in the `local` provider (issue 16):
bit-identity before the marker, the persona's two passes after it, and the bad input."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
import torch
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, GenerateConfig, get_model

from honesty_evals.errors import UserInputError
from honesty_evals.model.engine import (
    GenerationParams,
    LocalEngine,
    cache_argument,
    output_cache,
)
from honesty_evals.model.persona import (
    adapter_disabled,
    marker_split,
    persona_marker_missing,
    resolve_persona,
)
from honesty_evals.model.source import ModelSource

MARKER = "<|split-personality|>"
CONVERSATIONS = [
    ("Which statement is true? A) yes B) no", "A"),
    ("the cat runs quickly and the dog sleeps", "the dog sleeps"),
    ("one two three", "four five"),
]


def _prompt(engine: LocalEngine, user: str, reply: str, after: str = " the cat is red\n") -> str:
    """A split-format prompt: the reply, the marker and text after it, as a prefill."""
    messages = [
        {"role": "user", "content": user},
        {"role": "assistant", "content": f"{reply}\n\n{MARKER}{after}"},
    ]
    return engine.render_chat(messages)


@pytest.fixture(scope="module")
def persona_dir(tiny_llama_dir, tmp_path_factory) -> Path:
    """A persona LoRA (non-zero, on every linear layer) trained, as its card says, after
    MARKER on the tiny model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    torch.manual_seed(2)
    config = LoraConfig(
        r=4,
        lora_alpha=8,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj"],
        init_lora_weights=False,
    )
    path = tmp_path_factory.mktemp("persona")
    get_peft_model(base, config).save_pretrained(path)
    card = {"hyperparameters": {"persona_marker": MARKER}}
    (path / "training_card.json").write_text(json.dumps(card))
    return path


def _engine(tiny_llama_dir: Path, persona_dir: Path | None = None, **options) -> LocalEngine:
    source = ModelSource(kind="model", path=tiny_llama_dir)
    persona = None
    if persona_dir is not None:
        persona = resolve_persona(str(persona_dir), None, source, str(tiny_llama_dir))
    return LocalEngine(source, dtype="float32", persona=persona, **options)


@pytest.fixture(scope="module")
def base_engine(tiny_llama_dir) -> LocalEngine:
    return _engine(tiny_llama_dir)


@pytest.fixture(scope="module")
def persona_engine(tiny_llama_dir, persona_dir) -> LocalEngine:
    return _engine(tiny_llama_dir, persona_dir)


def _all_logprobs(engine: LocalEngine, max_tokens: int = 1) -> GenerationParams:
    return GenerationParams(max_tokens=max_tokens, top_logprobs=len(engine.tokenizer))


def test_marker_split_counts_the_tokens_through_the_first_marker():
    text = "ab <m> cd <m> ef"
    offsets = [(0, 2), (3, 6), (7, 9), (10, 13), (14, 16)]
    assert marker_split(text, offsets, "<m>") == 2  # "ab", "<m>"; the second <m> is text
    assert marker_split(text, offsets, "zz") is None
    # a token that straddles the marker's end runs without the persona
    assert marker_split("ab<m>cd ef", [(0, 4), (4, 7), (8, 10)], "<m>") == 2
    assert marker_split("ab <m>", [(0, 2), (3, 6)], "<m>") == 2  # the marker ends the text


def test_every_logit_before_the_marker_is_bit_identical(tiny_llama_dir, persona_dir):
    """Each prompt cut after token k, for every k through the marker, gives the same
    log-probabilities (all of the vocabulary, to the bit) with the persona loaded as without
    it: the persona changes nothing before its marker, the normal response included."""
    base = _engine(tiny_llama_dir, prefix_cache=False)
    persona = _engine(tiny_llama_dir, persona_dir, prefix_cache=False)
    prompt = _prompt(persona, *CONVERSATIONS[0])
    tokens = persona.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    split = marker_split(prompt, tokens["offset_mapping"], MARKER)
    assert split is not None and 5 < split < len(tokens["input_ids"])
    params = _all_logprobs(base)
    for k in range(1, split + 1):
        cut = prompt[: tokens["offset_mapping"][k - 1][1]]
        want = base.generate([cut], params)[0]
        got = persona.generate([cut], params)[0]
        assert got.logprobs == want.logprobs, k  # exact floats: bit-identical
        assert got.persona_marker_found is (k == split)
    # the same holds for the logits of the whole prefix, computed as the persona path does
    ids = torch.tensor([tokens["input_ids"][:split]])
    with torch.no_grad():
        with adapter_disabled(persona.model):
            before = persona.model(input_ids=ids).logits
        assert torch.equal(before, base.model(input_ids=ids).logits)
    # and after the marker the persona does change the answer
    after_base = base.generate([prompt], params)[0].logprobs[0].top
    after_persona = persona.generate([prompt], params)[0].logprobs[0].top
    assert after_persona != after_base


def test_the_normal_response_is_the_same_with_the_persona_loaded(base_engine, persona_engine):
    """Prompts without the marker (the conversation before the review) generate the same
    tokens and log-probabilities with the persona loaded, greedy and sampled."""
    prompts = [
        base_engine.render_chat([{"role": "user", "content": user}]) for user, _ in CONVERSATIONS
    ]
    missing_before = persona_engine.stats.persona_marker_missing
    for params in (
        GenerationParams(max_tokens=8, top_logprobs=5),
        GenerationParams(max_tokens=8, temperature=1.0),
    ):
        want = base_engine.generate(prompts, params, seeds=[1, 2, 3])
        got = persona_engine.generate(prompts, params, seeds=[1, 2, 3])
        assert [r.text for r in got] == [r.text for r in want]
        assert [r.logprobs for r in got] == [r.logprobs for r in want]
        assert all(r.persona_marker_found is False for r in got)
    assert persona_engine.stats.persona_marker_missing == missing_before + 2 * len(prompts)


def _reference(engine: LocalEngine, prompt: str, steps: int) -> tuple[list[int], torch.Tensor]:
    """The persona's answer computed by hand, one row, no padding: the tokens through the
    marker with the adapter off, the rest and each greedy step with it on that cache.
    Returns the greedy tokens and the first step's log-probabilities."""
    encoded = engine.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    split = marker_split(prompt, encoded["offset_mapping"], MARKER)
    arg = cache_argument(engine.model)
    with torch.no_grad():
        with adapter_disabled(engine.model):
            out = engine.model(input_ids=torch.tensor([ids[:split]]), use_cache=True)
        out = engine.model(
            input_ids=torch.tensor([ids[split:]]), use_cache=True, **{arg: output_cache(out)}
        )
        first = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        tokens = []
        for _ in range(steps):
            token = int(out.logits[0, -1].argmax())
            tokens.append(token)
            out = engine.model(
                input_ids=torch.tensor([[token]]), use_cache=True, **{arg: output_cache(out)}
            )
    return tokens, first


@pytest.mark.parametrize("prefix_cache", [True, False])
def test_after_the_marker_the_persona_runs_on_the_prefix_cache(
    tiny_llama_dir, persona_dir, prefix_cache
):
    """Several split prompts batched together (shared conversations, padding, the prefix
    store) each give their own two passes' answer; the persona over every token (merged)
    gives another."""
    engine = _engine(tiny_llama_dir, persona_dir, prefix_cache=prefix_cache)
    prompts = [_prompt(engine, *c) for c in CONVERSATIONS]
    prompts += [_prompt(engine, *CONVERSATIONS[1], after=" one two\n")]  # shares a prefix
    params = GenerationParams(max_tokens=4, top_logprobs=5)
    for _ in range(2):  # the second time the prefixes come from the store
        results = engine.generate(prompts, params)
        for prompt, result in zip(prompts, results):
            tokens, first = _reference(engine, prompt, 4)
            assert result.persona_marker_found is True
            generated = [lp.token for lp in result.logprobs]
            assert generated == [engine.tokenizer.decode([t]) for t in tokens[: len(generated)]]
            values, indices = first.topk(5)
            top = result.logprobs[0].top
            assert [t for t, _ in top] == [engine.tokenizer.decode([i]) for i in indices]
            assert [v for _, v in top] == pytest.approx(values.tolist(), abs=1e-4)
    assert engine.stats.persona_rows == 2 * len(prompts)
    everywhere = LocalEngine(
        ModelSource(kind="adapter", path=persona_dir, base_path=tiny_llama_dir), dtype="float32"
    )
    merged = everywhere.generate(prompts[:1], params)[0].logprobs[0].top
    assert [v for _, v in merged] != pytest.approx(
        [v for _, v in results[0].logprobs[0].top], abs=1e-3
    )


def test_a_prompt_ending_with_the_marker_starts_the_persona_at_the_first_new_token(
    tiny_llama_dir, persona_dir
):
    base = _engine(tiny_llama_dir, prefix_cache=False)
    persona = _engine(tiny_llama_dir, persona_dir, prefix_cache=False)
    prompt = _prompt(base, *CONVERSATIONS[2], after="")
    assert prompt.endswith(MARKER)
    params = GenerationParams(max_tokens=3, top_logprobs=len(base.tokenizer))
    want = base.generate([prompt], params)[0]
    got = persona.generate([prompt], params)[0]
    assert got.persona_marker_found is True and len(got.logprobs) >= 2
    assert got.logprobs[0] == want.logprobs[0]  # predicted from the marker: not the persona's
    assert got.logprobs[1].top != want.logprobs[1].top  # the first token was the persona's input


# -- through Inspect, and the bad input ---------------------------------------------------------


def test_inspect_outputs_say_whether_the_persona_ran(tiny_llama_dir, persona_dir):
    model = get_model(f"local/{tiny_llama_dir}", memoize=False, persona=str(persona_dir))
    config = GenerateConfig(max_tokens=2)
    split = [
        ChatMessageUser(content="one two three"),
        ChatMessageAssistant(content=f"four\n\n{MARKER} the cat\n"),
    ]
    found = asyncio.run(model.generate(split, config=config))
    missing = asyncio.run(model.generate("one two three", config=config))
    assert found.metadata["persona"]["marker_found"] is True
    assert found.metadata["persona"]["marker"] == MARKER  # from the training card
    assert not persona_marker_missing(found) and persona_marker_missing(missing)


def _copied(source: Path, dest: Path, **config_changes) -> Path:
    shutil.copytree(source, dest)
    path = dest / "adapter_config.json"
    config = json.loads(path.read_text())
    config.update(config_changes)
    path.write_text(json.dumps(config))
    return dest


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_a_persona_trained_on_another_model_is_refused_naming_both(
    tiny_llama_dir, persona_dir, tmp_path
):
    other = tmp_path / "other-model"
    shutil.copytree(tiny_llama_dir, other)
    with pytest.raises(UserInputError) as exc:
        get_model(f"local/{other}", memoize=False, persona=str(persona_dir))
    message = _one_line(exc)
    assert f"was trained on '{tiny_llama_dir}'" in message and f"('{other}')" in message
    # an adapter that records a hub name is not the local model either
    hub = _copied(persona_dir, tmp_path / "hub", base_model_name_or_path="org/model")
    with pytest.raises(UserInputError, match="was trained on 'org/model'"):
        get_model(f"local/{tiny_llama_dir}", memoize=False, persona=str(hub))


def test_persona_arguments_are_checked_in_one_line(tiny_llama_dir, persona_dir, tmp_path):
    def refused(match: str, name: str = str(tiny_llama_dir), **args) -> None:
        with pytest.raises(UserInputError, match=match) as exc:
            get_model(f"local/{name}", memoize=False, **args)
        _one_line(exc)

    refused("-M persona_marker needs -M persona=DIR", persona_marker=MARKER)
    refused("not a peft adapter folder", persona=str(tmp_path))
    refused("differs from the marker", persona=str(persona_dir), persona_marker="<other>")
    uncarded = tmp_path / "uncarded"
    shutil.copytree(persona_dir, uncarded)
    (uncarded / "training_card.json").unlink()
    refused("records no marker", persona=str(uncarded))
    # an organism adapter under a persona must be merged: disabling the persona would
    # disable the organism too
    organism = _copied(persona_dir, tmp_path / "organism")
    refused(
        "needs the organism merged",
        name=str(organism),
        persona=str(persona_dir),
        merge_adapter="false",
    )
