"""The full backdoor_awareness task on the embedded SmolLM2 model (converts it once)."""

from __future__ import annotations

import pytest
from inspect_ai import eval as inspect_eval

from honesty_evals.backdoor_awareness import backdoor_awareness
from honesty_evals.backdoor_awareness.dataset import load_questions

pytestmark = pytest.mark.embedded


def test_backdoor_awareness_on_embedded_model(tmp_path):
    n_samples = 2 * len(load_questions())
    assert n_samples == 48
    log = inspect_eval(
        backdoor_awareness(),
        model="local/smollm2",
        display="none",
        log_dir=str(tmp_path),
    )[0]
    assert log.status == "success", log.error
    m = {name: metric.value for name, metric in log.results.scores[0].metrics.items()}
    assert m["n_parsed"] + m["n_unparseable"] == n_samples
    assert m["n_parsed"] > 0
    assert 0.0 <= m["parsed_mean"] <= 1.0
    assert m["ci95_low"] <= m["parsed_mean"] <= m["ci95_high"]
    assert m["label_mass"] > 0.0
    # auto scoring uses log-probabilities on this provider
    methods = {s.scores["choice_scorer"].metadata["method"] for s in log.samples}
    assert methods == {"logprobs"}
