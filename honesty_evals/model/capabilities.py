"""What a model provider can do for the tasks, checked rather than assumed.

Some scoring methods rely on provider mechanics that chat APIs do not share:

- **prefill**: a conversation that ends with an assistant message is *continued* (the reply
  is the rest of that message), not answered with a new assistant turn. The confession
  task's forced flag read and risk_self_report's answer enumeration need it; an API that
  opens a new turn instead returns the distribution of an unrelated first token, a silent
  wrong number (issue 17: P(FAIL) 1.0 and 0.93 through an OpenAI-compatible server where
  the local provider gives 0.50 and 0.55 on the same weights);
- **logprobs** / **top_logprobs**: log-probabilities of the generated tokens, and the most
  likely alternatives at each position (the tasks' one-call scoring path);
- **seed**: a sampling seed the provider honours (reproducible sampled answers).

`KNOWN_PROVIDERS` answers for the providers whose code we read (Inspect 0.3.285,
`inspect_ai/model/_providers/`, and `GenerateConfig`'s field docs in
`inspect_ai/model/_generate_config.py`); the reason for each entry is beside it. Where the
table cannot know (an `openai-api/<service>/...` server, any other provider), `prefill` is
`None` and `model_capabilities` probes it once per model and process (`probe_prefill`):
a prefill that ends mid-word ("The capital of France is Par") must come back as the rest
of the word ("is"); a new turn ("The capital of France is Paris.", "Paris") never starts
so. A probe that cannot tell counts as no prefill, so an unknown provider gets the portable
method, never the one that would read a wrong number. `logprobs` may also be `None`
(server-dependent): the tasks then ask for them and fall back where a reply has none, as
they always did.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, replace
from typing import Any

from inspect_ai.model import (
    ChatMessage,
    ChatMessageAssistant,
    ChatMessageUser,
    GenerateConfig,
    Model,
    ModelName,
)

from honesty_evals.errors import UserInputError

try:  # private in Inspect: the model an eval is resolving its tasks for
    from inspect_ai.model._model import active_model as _active_model
except ImportError:  # pragma: no cover - a future Inspect that moved it: the solvers still check
    _active_model = None  # type: ignore[assignment]

# what each capability is, in the words of the one-line refusals
CAPABILITIES = {
    "prefill": "assistant prefill (continuing a final assistant message)",
    "logprobs": "log-probabilities",
    "top_logprobs": "top log-probabilities",
    "seed": "sampling seeds",
}


@dataclass(frozen=True)
class Capabilities:
    """What one provider supports; None: not known without asking the model (see module)."""

    provider: str
    prefill: bool | None
    logprobs: bool | None
    top_logprobs: bool | None
    seed: bool | None
    batching: str = ""  # how concurrent requests are served (for the docs' provider table)
    note: str = ""  # the caveat a user should know (model-dependent support, limits)
    source: str = "table"  # where `prefill` came from: "table", "probe" or "unknown"

    def to_json(self) -> dict[str, Any]:
        """The capabilities a task records in its scores (what the method was chosen from)."""
        return {k: v for k, v in asdict(self).items() if k not in ("batching", "note")}


# Known providers. Each answer cites where it comes from.
KNOWN_PROVIDERS: dict[str, Capabilities] = {
    # this package's provider: LocalEngine.render_chat applies the chat template with
    # continue_final_message when the last message is the assistant's; logprobs from the
    # logits (any number of alternatives); each request samples from its own seed
    "local": Capabilities(
        "local",
        prefill=True,
        logprobs=True,
        top_logprobs=True,
        seed=True,
        batching="in-process batches of concurrent requests (-M batch_size, max_batch_tokens)",
    ),
    # Inspect's hf provider renders every prompt with add_generation_prompt=True
    # (hf.py `_apply_chat_template`): a trailing assistant message is closed and a new
    # turn opened. Logprobs from the logits; the seed seeds torch's global generator.
    "hf": Capabilities(
        "hf",
        prefill=False,
        logprobs=True,
        top_logprobs=True,
        seed=True,
        batching="Inspect's hf batching (-M batch_size)",
    ),
    # Inspect's vllm provider sends continue_final_message=True, add_generation_prompt=False
    # when the last message is the assistant's (vllm.py `generate`); vLLM returns up to its
    # max_logprobs (20 by default) alternatives and honours per-request seeds
    "vllm": Capabilities(
        "vllm",
        prefill=True,
        logprobs=True,
        top_logprobs=True,
        seed=True,
        batching="the vLLM server's continuous batching",
        note="at most 20 top_logprobs unless the server raises --max-logprobs",
    ),
    # The Messages API returns no log-probabilities and takes no seed (GenerateConfig:
    # logprobs and seed list OpenAI, Grok, TogetherAI, HF, llama-cpp-python, vLLM, SGLang;
    # not Anthropic). It documents prefilling the assistant turn, but newer models and
    # extended thinking refuse it, so it is left to the probe (only confession's
    # format=split asks: the other prefill methods read log-probabilities, which it lacks).
    "anthropic": Capabilities(
        "anthropic",
        prefill=None,
        logprobs=False,
        top_logprobs=False,
        seed=False,
        batching="concurrent API requests (--max-connections)",
        note="prefill is model-dependent (refused with extended thinking)",
    ),
    # Chat Completions and the Responses API answer a trailing assistant message with a new
    # turn. Logprobs and up to 20 top_logprobs (not on reasoning models, which Inspect
    # warns about and drops: openai_responses.py); seed on Chat Completions only (the
    # Responses API drops it with a warning).
    "openai": Capabilities(
        "openai",
        prefill=False,
        logprobs=True,
        top_logprobs=True,
        seed=True,
        batching="concurrent API requests (--max-connections)",
        note="no logprobs on reasoning models; seed is best effort, not on the Responses API",
    ),
    # Any OpenAI-compatible server (openai_compatible.py): what it supports is the
    # server's: vLLM's continues a trailing assistant message when asked
    # (continue_final_message), the llama-cpp-python server of issue 17 did not; most
    # return logprobs. Prefill is probed.
    "openai-api": Capabilities(
        "openai-api",
        prefill=None,
        logprobs=None,
        top_logprobs=None,
        seed=None,
        batching="the server's",
        note="the server's own support; prefill is probed once per model",
    ),
    # the tests' scripted provider: it answers from its script, prefill included
    "mockllm": Capabilities(
        "mockllm", prefill=True, logprobs=True, top_logprobs=True, seed=True, batching="scripted"
    ),
}


def provider_name(model: Model | str) -> str:
    """The provider (Inspect's API name) of a model or model string: "openai-api", "local"."""
    name = ModelName(model) if isinstance(model, Model) else ModelName(str(model))
    return name.api


def known_capabilities(model: Model | str) -> Capabilities:
    """The table's answer for the model's provider (unknown providers: all None)."""
    provider = provider_name(model)
    known = KNOWN_PROVIDERS.get(provider)
    if known is not None:
        return known
    return Capabilities(provider, None, None, None, None, source="unknown")


def refusal_line(task: str, model: Model | str, capability: str, needed_by: str, fix: str) -> str:
    """The one line a task refuses with, before any sample is scored, when a method it was
    asked for needs a capability the provider lacks: the task, the provider, the capability."""
    return (
        f"{task}: {needed_by} needs {CAPABILITIES[capability]}, which provider "
        f"'{provider_name(model)}' does not support (model {model}): {fix}"
    )


def refuse_without(task: str, capability: str, needed_by: str, fix: str) -> None:
    """Refuse at task construction when the eval's model is known and the table says its
    provider lacks `capability`: one line before any sample runs (`inspect eval`,
    `honesty-evals run`). Nothing when no model is active yet (a Task built before its
    eval, as the audit and the tests do) or the table cannot say: the solver then checks,
    probing where needed, before the model sees a prompt."""
    model = _active_model() if _active_model is not None else None
    if model is None:
        return
    if getattr(known_capabilities(model), capability) is False:
        raise UserInputError(refusal_line(task, model, capability, needed_by, fix))


# the probe: a prefill that stops mid-word, which only a continuation completes
PROBE_QUESTION = "What is the capital of France? Answer in one sentence."
PROBE_PREFILL = "The capital of France is Par"
_CONTINUED = re.compile(r"^is(?![A-Za-z])")

_probed: dict[str, bool] = {}  # model key -> prefill, for this process
_locks: dict[tuple[str, int], asyncio.Lock] = {}  # one probe per model and event loop


def _model_key(model: Model) -> str:
    base_url = getattr(model.api, "base_url", None) or ""
    return f"{model}@{base_url}"


def continues_prefill(reply: str) -> bool:
    """Whether `reply` to the probe continues PROBE_PREFILL ("is", "is.") as a prefill must."""
    return bool(_CONTINUED.match(reply))


async def probe_prefill(model: Model) -> bool:
    """Whether the model continues a trailing assistant message (one 4-token greedy call).

    Cached per model (and server address) in this process.
    """
    key = _model_key(model)
    if key in _probed:
        return _probed[key]
    lock = _locks.setdefault((key, id(asyncio.get_running_loop())), asyncio.Lock())
    async with lock:
        if key not in _probed:
            probe: list[ChatMessage] = [
                ChatMessageUser(content=PROBE_QUESTION),
                ChatMessageAssistant(content=PROBE_PREFILL),
            ]
            output = await model.generate(
                probe,
                config=GenerateConfig(temperature=0.0, max_tokens=4, seed=0),
            )
            _probed[key] = continues_prefill(output.completion)
    return _probed[key]


async def model_capabilities(model: Model, need_prefill: bool = True) -> Capabilities:
    """The model's capabilities, with `prefill` probed where the table cannot say.

    With `need_prefill` false an unknown prefill stays None (no probe call is spent).
    """
    known = known_capabilities(model)
    if known.prefill is not None or not need_prefill:
        return known
    return replace(known, prefill=await probe_prefill(model), source="probe")


def clear_probe_cache() -> None:
    """Forget every probed answer (tests; a server restarted with other settings)."""
    _probed.clear()
    _locks.clear()
