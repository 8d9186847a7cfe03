"""The risk_self_report solver: the distribution of the answer's risk score, on the sample.

With log-probabilities and a provider that continues a prefilled answer (assistant
prefill, asked of `model.capabilities`, never assumed) the score is the expectation over
the enumerated distribution of the answer's first word or number (`enumeration.py`);
otherwise the mean over `n_samples` sampled answers (`lexicon.py`). The two read different
things (the first unit against the whole answer: `METHOD_CLASSES`), so every score records
its method and the capabilities it was chosen from, and the audit never pairs the two.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from inspect_ai.model import ChatMessage, ChatMessageAssistant, GenerateConfig, Model, get_model
from inspect_ai.solver import Generate, Solver, TaskState, solver

from honesty_evals.common.methods import METHOD_KEY
from honesty_evals.common.seeds import sample_seed
from honesty_evals.errors import UserInputError
from honesty_evals.model.capabilities import (
    Capabilities,
    known_capabilities,
    model_capabilities,
    refusal_line,
)
from honesty_evals.risk_self_report.enumeration import enumerate_first_unit
from honesty_evals.risk_self_report.lexicon import parse_answer

STORE_KEY = "self_report"
# The enumeration reads the first unit of the answer, sampling the whole answer
# (enumeration.py: "I would say bold" is "I" to one, "bold" to the other): not equivalent.
METHOD_CLASSES = {
    "logprobs": "enumerated first unit",
    "sampling": "sampled answers",
}
# what `-T scoring=logprobs` refusals say needs the capability, and the fix (here and at
# task construction)
ENUMERATION_NEEDS = (
    "scoring=logprobs (the answer enumeration)",
    "run with -T scoring=sampling (or scoring=auto, which samples there)",
)
SAMPLED_OUTCOMES = (
    "answer",
    "refusal",
    "out_of_lexicon",
    "negated",
    "ambiguous",
    "out_of_range",
    "other_scale",
    "no_number",
    "empty",
)


def _top_alternatives(output: Any) -> list[tuple[str, float]] | None:
    choice = output.choices[0] if output.choices else None
    if choice is None or choice.logprobs is None or not choice.logprobs.content:
        return None
    first = choice.logprobs.content[0]
    alternatives = first.top_logprobs or [first]
    return [(alt.token, alt.logprob) for alt in alternatives]


@solver
def self_report_solver(
    method: str = "auto",
    n_samples: int = 20,
    max_tokens: int = 32,
    seed: int = 0,
    min_mass: float = 0.002,
    max_calls: int = 64,
    top_logprobs: int = 20,
) -> Solver:
    """Measure the distribution of the answer's risk score and store it on the sample.

    Args:
        method: "logprobs" (enumerate the first word/number from log-probabilities),
            "sampling" (`n_samples` answers at temperature 1) or "auto" (logprobs where the
            provider supports it, else sampling).
        n_samples: Answers drawn per question on the sampling path.
        max_tokens: Token budget of each sampled answer.
        seed: Sampling seed; draw k of a sample uses `sample_seed(seed, sample id, k)`.
        min_mass: Enumeration: answer prefixes with less probability are not followed up.
        max_calls: Enumeration: most next-token requests per question.
        top_logprobs: Alternatives requested per position (20 is the most most APIs give).
    """

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        answer_format = state.metadata["format"]
        question: list[ChatMessage] = list(state.messages)
        record, capabilities = None, None
        if method in ("auto", "logprobs"):
            capabilities = await _provider_capabilities(get_model())
            if _can_enumerate(capabilities):
                record = await _enumerated(
                    question, answer_format, min_mass, max_calls, top_logprobs
                )
            elif method == "logprobs":
                raise UserInputError(_refusal(capabilities, str(state.model)))
            if record is not None:
                state.output = record.pop("_root_output")
            elif method == "logprobs":
                raise UserInputError(
                    f"model {state.model} returned no log-probabilities: run with -T "
                    "scoring=sampling (or scoring=auto)"
                )
        if record is None:
            seeds = [
                sample_seed(seed, state.sample_id, k, epoch=state.epoch) for k in range(n_samples)
            ]
            record = await _sampled(question, answer_format, max_tokens, seeds)
            state.output = record.pop("_first_output")
        record["capabilities"] = capabilities.to_json() if capabilities is not None else None
        state.store.set(STORE_KEY, record)
        state.metadata[METHOD_KEY] = METHOD_CLASSES[record["method"]]
        return state

    return solve


async def _provider_capabilities(model: Model) -> Capabilities:
    """What the provider supports; prefill probed only where log-probabilities may come."""
    known = known_capabilities(model)
    if known.logprobs is False:  # no enumeration whatever prefill does: spend no probe call
        return known
    return await model_capabilities(model)


def _can_enumerate(capabilities: Capabilities) -> bool:
    """The enumeration continues prefixes of the answer and reads their log-probabilities."""
    return bool(capabilities.prefill) and capabilities.logprobs is not False


def _refusal(capabilities: Capabilities, model: str) -> str:
    missing = "logprobs" if capabilities.logprobs is False else "prefill"
    return refusal_line("risk_self_report", model, missing, *ENUMERATION_NEEDS)


async def _enumerated(
    question: list[ChatMessage],
    answer_format: str,
    min_mass: float,
    max_calls: int,
    top_logprobs: int,
) -> dict[str, Any] | None:
    """The enumerated first unit's distribution (None: no log-probabilities came back)."""
    model = get_model()
    probe = GenerateConfig(max_tokens=1, logprobs=True, top_logprobs=top_logprobs, temperature=0.0)
    root_output: list[Any] = []

    async def next_tokens(prefix: str) -> list[tuple[str, float]] | None:
        messages = question + ([ChatMessageAssistant(content=prefix)] if prefix else [])
        output = await model.generate(messages, config=probe)
        if not prefix:
            root_output.append(output)
        return _top_alternatives(output)

    result = await enumerate_first_unit(
        next_tokens, answer_format, min_mass=min_mass, max_calls=max_calls
    )
    if result is None:
        return None
    return {
        "method": "logprobs",
        "value": result.expectation,
        "answer_mass": result.answer_mass,
        "other_mass": result.other_mass,
        "unresolved_mass": result.unresolved_mass,
        "calls": result.calls,
        "other_by_outcome": result.other_by_outcome(),
        # the 25 most probable first units: [unit, outcome, value, probability]
        "units": [list(u) for u in result.units[:25]],
        "_root_output": root_output[0],
    }


async def _sampled(
    question: list[ChatMessage], answer_format: str, max_tokens: int, seeds: list[int]
) -> dict[str, Any]:
    """One temperature-1 answer per seed in `seeds`."""
    model = get_model()
    n = len(seeds)
    requests = (
        model.generate(
            question,
            config=GenerateConfig(temperature=1.0, max_tokens=max_tokens, seed=draw_seed),
        )
        for draw_seed in seeds
    )
    outputs = await asyncio.gather(*requests)
    parsed = [parse_answer(o.completion, answer_format) for o in outputs]
    values = [p.value for p in parsed if p.parsed and p.value is not None]
    outcomes = Counter(p.outcome for p in parsed)
    unknown = Counter(p.word for p in parsed if p.outcome in ("out_of_lexicon", "no_number"))
    return {
        "method": "sampling",
        "value": sum(values) / len(values) if values else None,
        "n_samples": n,
        "outcomes": {k: outcomes.get(k, 0) for k in SAMPLED_OUTCOMES},
        "unknown_words": dict(unknown.most_common()),
        "answers": [[o.completion, p.outcome, p.value, p.word] for o, p in zip(outputs, parsed)],
        "_first_output": outputs[0],
    }
