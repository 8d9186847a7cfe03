"""Provider capabilities: the known-provider table, the prefill probe and its cache."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from conftest import mock_output
from inspect_ai.model import get_model

from honesty_evals.model import capabilities as caps
from honesty_evals.model.capabilities import (
    KNOWN_PROVIDERS,
    PROBE_PREFILL,
    clear_probe_cache,
    continues_prefill,
    known_capabilities,
    model_capabilities,
    provider_name,
    refusal_line,
)


@pytest.fixture(autouse=True)
def _fresh_probe_cache():
    clear_probe_cache()
    yield
    clear_probe_cache()


# provider -> (prefill, logprobs, top_logprobs, seed); None: the table cannot know
EXPECTED = {
    "local/smollm2": (True, True, True, True),
    "hf/HuggingFaceTB/SmolLM2-135M-Instruct": (False, True, True, True),
    "vllm/meta-llama/Llama-3.1-8B-Instruct": (True, True, True, True),
    "anthropic/claude-sonnet-4-5": (None, False, False, False),
    "openai/gpt-4o-mini": (False, True, True, True),
    "openai-api/llamacpp/smollm2": (None, None, None, None),
    "mockllm/model": (True, True, True, True),
    "google/gemini-2.5-flash": (None, None, None, None),  # not in the table
}


@pytest.mark.parametrize("model, expected", EXPECTED.items())
def test_the_table_answers_for_each_provider(model, expected):
    found = known_capabilities(model)
    assert (found.prefill, found.logprobs, found.top_logprobs, found.seed) == expected
    assert found.provider == model.split("/")[0]
    assert found.source == ("unknown" if model.startswith("google") else "table")


def test_every_provider_the_readme_names_is_in_the_table():
    for provider in ("local", "hf", "vllm", "anthropic", "openai", "openai-api"):
        assert provider in KNOWN_PROVIDERS
        assert KNOWN_PROVIDERS[provider].batching  # the docs' table shows it


def test_provider_of_a_model_object_is_its_api():
    assert provider_name(get_model("mockllm/model")) == "mockllm"
    assert provider_name("openai-api/llamacpp/smollm2") == "openai-api"


@pytest.mark.parametrize(
    "reply, continued",
    [
        ("is.", True),
        ("is", True),
        ("is, the capital", True),
        ("The capital of France is Paris.", False),  # a new turn restates the sentence
        ("Paris.", False),
        (" Paris", False),
        ("isn't it", False),  # a new word, not the rest of "Par-is"
        ("Is there", False),
        ("", False),
    ],
)
def test_the_probe_reply_is_read_as_a_continuation_only_when_it_completes_the_word(
    reply, continued
):
    assert continues_prefill(reply) is continued


class ProbeScript:
    """Answers the probe as a provider with (or without) prefill would; counts requests."""

    def __init__(self, prefill: bool):
        self.prefill = prefill
        self.requests = []

    def __call__(self, input, tools, tool_choice, config):
        self.requests.append(input)
        assert input[-1].role == "assistant" and input[-1].text == PROBE_PREFILL
        return mock_output("is." if self.prefill else "The capital of France is Paris.")


@pytest.mark.parametrize("prefill", [True, False])
def test_an_unknown_provider_is_probed_once_per_model(monkeypatch, prefill):
    monkeypatch.setitem(
        KNOWN_PROVIDERS, "mockllm", replace(KNOWN_PROVIDERS["mockllm"], prefill=None)
    )
    script = ProbeScript(prefill)
    model = get_model("mockllm/model", custom_outputs=script)

    async def ask_twice():
        return await asyncio.gather(*(model_capabilities(model) for _ in range(5)))

    answers = asyncio.run(ask_twice())
    assert {a.prefill for a in answers} == {prefill}
    assert {a.source for a in answers} == {"probe"}
    assert len(script.requests) == 1  # concurrent askers wait for the one probe
    assert asyncio.run(model_capabilities(model)).prefill is prefill
    assert len(script.requests) == 1  # cached for the process


def test_a_known_provider_is_never_probed(monkeypatch):
    def fail(*args):
        raise AssertionError("the table answers: no model call")

    model = get_model("mockllm/model", custom_outputs=fail)
    found = asyncio.run(model_capabilities(model))
    assert found.prefill is True and found.source == "table"


def test_unknown_prefill_is_not_probed_when_not_needed(monkeypatch):
    monkeypatch.setitem(
        KNOWN_PROVIDERS, "mockllm", replace(KNOWN_PROVIDERS["mockllm"], prefill=None)
    )
    model = get_model("mockllm/model", custom_outputs=ProbeScript(True))
    assert asyncio.run(model_capabilities(model, need_prefill=False)).prefill is None
    assert caps._probed == {}


def test_the_refusal_names_task_provider_and_capability():
    line = refusal_line(
        "confession", "openai/gpt-4o-mini", "prefill", "format=split", "run with -T format=followup"
    )
    assert line == (
        "confession: format=split needs assistant prefill (continuing a final assistant "
        "message), which provider 'openai' does not support (model openai/gpt-4o-mini): run "
        "with -T format=followup"
    )
    assert "\n" not in line
