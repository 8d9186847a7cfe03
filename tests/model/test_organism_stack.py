"""An organism (a LoRA adapter folder) as the base of another adapter in the `local`
provider (issue 16, point 3): the chain of adapters, a merged arm over an organism equal to
peft by hand, a persona over an organism bit-identical to the organism before its marker,
and the bad input."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest
import torch
from conftest import write_tiny_lora
from inspect_ai.model import ChatMessageAssistant, ChatMessageUser, GenerateConfig, get_model

from honesty_evals.confession.formats import FORMATS, PERSONA_MARKERS, evaluation_model
from honesty_evals.errors import UserInputError
from honesty_evals.model.engine import GenerationParams, LocalEngine
from honesty_evals.model.persona import marker_split, resolve_persona
from honesty_evals.model.source import MAX_ADAPTER_CHAIN, ModelSource, resolve_model_source

MARKER = "<|split-personality|>"
PROMPT = [{"role": "user", "content": "Which statement is true? A) yes B) no"}]


@pytest.fixture(scope="module")
def arm_dir(tiny_llama_dir, tiny_organism_dir, tmp_path_factory) -> Path:
    """A merged-arm adapter trained over the organism (its base is the organism's folder)."""
    out = tmp_path_factory.mktemp("arm")
    return write_tiny_lora(tiny_llama_dir, out, 12, str(tiny_organism_dir))


@pytest.fixture(scope="module")
def persona_dir(tiny_llama_dir, tiny_organism_dir, tmp_path_factory) -> Path:
    """A persona trained over the organism, after MARKER."""
    out = tmp_path_factory.mktemp("organism-persona")
    return write_tiny_lora(tiny_llama_dir, out, 13, str(tiny_organism_dir), marker=MARKER)


@pytest.fixture(scope="module")
def other_organism_dir(tiny_llama_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("other-organism")
    return write_tiny_lora(tiny_llama_dir, out, 14, str(tiny_llama_dir))


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def _rebased(adapter: Path, dest: Path, base: str) -> Path:
    """A copy of `adapter` whose config records `base`."""
    shutil.copytree(adapter, dest)
    config = json.loads((dest / "adapter_config.json").read_text())
    config["base_model_name_or_path"] = base
    (dest / "adapter_config.json").write_text(json.dumps(config))
    return dest


# -- the chain --------------------------------------------------------------------------------


def test_an_adapter_over_an_organism_resolves_to_the_chain(
    tiny_llama_dir, tiny_organism_dir, arm_dir, tmp_path
):
    source = resolve_model_source(str(arm_dir))
    assert source.kind == "adapter" and source.path == arm_dir
    assert source.base_path == tiny_llama_dir and source.model_path == tiny_llama_dir
    assert source.stacked_on == (tiny_organism_dir,)
    assert source.adapters == (tiny_organism_dir, arm_dir)
    # an organism alone, and a plain model, as before
    organism = resolve_model_source(str(tiny_organism_dir))
    assert organism.stacked_on == () and organism.adapters == (tiny_organism_dir,)
    assert resolve_model_source(str(tiny_llama_dir)).adapters == ()
    # -M base= replaces the innermost base (the full model under the organism)
    copy = tmp_path / "model-copy"
    shutil.copytree(tiny_llama_dir, copy)
    moved = resolve_model_source(str(arm_dir), base=str(copy))
    assert moved.base_path == copy and moved.stacked_on == (tiny_organism_dir,)


def test_a_cycle_or_a_deep_chain_is_one_line(tiny_llama_dir, tiny_organism_dir, tmp_path):
    a = tmp_path / "a"
    b = _rebased(tiny_organism_dir, tmp_path / "b", str(a))
    _rebased(tiny_organism_dir, a, str(b))
    with pytest.raises(UserInputError, match="a cycle") as exc:
        resolve_model_source(str(a))
    assert str(b) in _one_line(exc)
    itself = tmp_path / "itself"
    _rebased(tiny_organism_dir, itself, str(itself))
    with pytest.raises(UserInputError, match="a cycle"):
        resolve_model_source(str(itself))
    # MAX_ADAPTER_CHAIN adapters load; one more is refused
    below = str(tiny_llama_dir)
    links = []
    for k in range(MAX_ADAPTER_CHAIN + 1):
        links.append(_rebased(tiny_organism_dir, tmp_path / f"link-{k}", below))
        below = str(links[-1])
    assert len(resolve_model_source(str(links[-2])).adapters) == MAX_ADAPTER_CHAIN
    with pytest.raises(UserInputError, match=f"more than {MAX_ADAPTER_CHAIN} adapters") as exc:
        resolve_model_source(str(links[-1]))
    _one_line(exc)


def test_every_link_is_diagnosed_before_loading(tiny_organism_dir, arm_dir, tmp_path):
    # an organism copied without its weights
    hollow = tmp_path / "hollow"
    hollow.mkdir()
    shutil.copy(tiny_organism_dir / "adapter_config.json", hollow)
    arm = _rebased(arm_dir, tmp_path / "arm", str(hollow))
    with pytest.raises(UserInputError, match="has adapter_config.json but no adapter weights"):
        resolve_model_source(str(arm))
    # an organism whose own base is missing: one line naming the organism and that base
    lost = _rebased(tiny_organism_dir, tmp_path / "lost", str(tmp_path / "no-such-model"))
    arm = _rebased(arm_dir, tmp_path / "arm-over-lost", str(lost))
    with pytest.raises(UserInputError, match="not a local model directory") as exc:
        resolve_model_source(str(arm))
    assert f"of adapter '{lost}'" in _one_line(exc)


# -- what loads -------------------------------------------------------------------------------


def _by_hand(model_dir: Path, *adapters: Path):
    """The base model with each adapter loaded and merged by peft, in order."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    for adapter in adapters:
        model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    return model.eval()


def _logits(model, engine: LocalEngine) -> torch.Tensor:
    prompt = engine.render_chat(PROMPT)
    ids = engine.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return model(input_ids=ids).logits


def test_a_merged_arm_over_an_organism_is_base_organism_and_arm_by_hand(
    tiny_llama_dir, tiny_organism_dir, arm_dir
):
    engine = LocalEngine(resolve_model_source(str(arm_dir)), dtype="float32")
    want = _logits(_by_hand(tiny_llama_dir, tiny_organism_dir, arm_dir), engine)
    assert torch.equal(_logits(engine.model, engine), want)
    # both adapters count: without the organism, or without the arm, the logits differ
    assert not torch.allclose(_logits(_by_hand(tiny_llama_dir, arm_dir), engine), want)
    assert not torch.allclose(_logits(_by_hand(tiny_llama_dir, tiny_organism_dir), engine), want)
    # the arm kept apart (-M merge_adapter=false) computes the same, up to rounding
    apart = LocalEngine(resolve_model_source(str(arm_dir)), dtype="float32", merge_adapter=False)
    assert torch.allclose(_logits(apart.model, engine), want, atol=1e-4)


def _engines(organism: Path, persona: Path) -> tuple[LocalEngine, LocalEngine]:
    source = resolve_model_source(str(organism))
    with_persona = resolve_persona(str(persona), None, source, str(organism))
    plain = LocalEngine(source, dtype="float32", prefix_cache=False)
    return plain, LocalEngine(source, dtype="float32", persona=with_persona, prefix_cache=False)


def test_a_persona_over_an_organism_leaves_the_organism_bit_identical(
    tiny_llama_dir, tiny_organism_dir, persona_dir
):
    """Every logit through the marker, and the greedy normal response, are the organism's
    own (exact floats); after the marker the persona changes the answer."""
    organism, persona = _engines(tiny_organism_dir, persona_dir)
    messages = [*PROMPT, {"role": "assistant", "content": f"A\n\n{MARKER} the cat is red\n"}]
    prompt = persona.render_chat(messages)
    tokens = persona.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
    split = marker_split(prompt, tokens["offset_mapping"], MARKER)
    assert split is not None and 5 < split < len(tokens["input_ids"])
    params = GenerationParams(max_tokens=1, top_logprobs=len(persona.tokenizer))
    for k in range(1, split + 1):
        cut = prompt[: tokens["offset_mapping"][k - 1][1]]
        got, want = persona.generate([cut], params)[0], organism.generate([cut], params)[0]
        assert got.logprobs == want.logprobs, k  # bit-identical
    assert persona.generate([prompt], params)[0].logprobs != (
        organism.generate([prompt], params)[0].logprobs
    )
    # the normal response, greedy, with log-probabilities
    normal = [
        persona.render_chat(PROMPT),
        persona.render_chat([{"role": "user", "content": "one"}]),
    ]
    greedy = GenerationParams(max_tokens=8, top_logprobs=5)
    got_normal, want_normal = persona.generate(normal, greedy), organism.generate(normal, greedy)
    assert [r.text for r in got_normal] == [r.text for r in want_normal]
    assert [r.logprobs for r in got_normal] == [r.logprobs for r in want_normal]
    # and the organism is not the base model: the test compares against the organism
    base = LocalEngine(ModelSource(kind="model", path=tiny_llama_dir), dtype="float32")
    assert (
        base.generate(normal[:1], params)[0].logprobs
        != organism.generate(normal[:1], params)[0].logprobs
    )


def test_inspect_loads_a_persona_over_an_organism(tiny_organism_dir, persona_dir):
    model = get_model(f"local/{tiny_organism_dir}", memoize=False, persona=str(persona_dir))
    split = [
        ChatMessageUser(content="one two three"),
        ChatMessageAssistant(content=f"four\n\n{MARKER} the cat\n"),
    ]
    output = asyncio.run(model.generate(split, config=GenerateConfig(max_tokens=2)))
    assert output.metadata["persona"]["marker_found"] is True


def test_a_persona_over_the_wrong_model_is_refused_naming_both(
    tiny_llama_dir, tiny_organism_dir, other_organism_dir, persona_dir, tmp_path
):
    def refused(model: Path, persona: Path, trained_on: Path) -> None:
        with pytest.raises(UserInputError) as exc:
            get_model(f"local/{model}", memoize=False, persona=str(persona))
        message = _one_line(exc)
        assert f"was trained on '{trained_on}'" in message and f"('{model}')" in message

    # trained over the organism, loaded over its base model or over another organism
    refused(tiny_llama_dir, persona_dir, tiny_organism_dir)
    refused(other_organism_dir, persona_dir, tiny_organism_dir)
    # trained over the base model, loaded over an organism
    on_base = write_tiny_lora(tiny_llama_dir, tmp_path / "on-base", 15, str(tiny_llama_dir), MARKER)
    refused(tiny_organism_dir, on_base, tiny_llama_dir)


# -- the confession formats' evaluation model over an organism --------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_evaluation_model_over_an_organism(fmt, tiny_llama_dir, tiny_organism_dir, tmp_path):
    """Every format's adapter trained over an organism evaluates over that organism: the
    persona as -M persona over local/<organism>, the others merged through its chain."""
    marker = PERSONA_MARKERS.get(fmt)
    adapter = write_tiny_lora(
        tiny_llama_dir, tmp_path / fmt, 16, str(tiny_organism_dir.resolve()), marker=marker
    )
    name, args = evaluation_model(fmt, adapter, str(tiny_organism_dir))
    source = resolve_model_source(name.removeprefix("local/"))
    if marker is not None:
        assert name == f"local/{tiny_organism_dir}" and args["persona"] == str(adapter)
        assert args["persona_marker"] == marker and source.adapters == (tiny_organism_dir,)
        resolve_persona(args["persona"], args["persona_marker"], source, name)  # accepted
    else:
        assert name == f"local/{adapter}" and args == {}
        assert source.adapters == (tiny_organism_dir.resolve(), adapter)
        assert source.base_path == tiny_llama_dir
