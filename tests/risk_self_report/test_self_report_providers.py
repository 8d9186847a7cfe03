"""risk_self_report on providers without assistant prefill: sampling (recorded), or the
one-line refusal of scoring=logprobs before any model call (issue 17)."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import mock_output
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from honesty_evals.common.measurement import read_choice_metric
from honesty_evals.common.methods import METHOD_KEY
from honesty_evals.model.capabilities import KNOWN_PROVIDERS
from honesty_evals.risk_self_report.task import risk_self_report


class Answers:
    """Logprobs for the enumeration (one complete first word or number), text otherwise."""

    def __init__(self):
        self.requests = []

    def __call__(self, input, tools, tool_choice, config):
        self.requests.append((input, config))
        scale = "word" not in input[-1].text.lower() if input[-1].role == "user" else True
        if config.logprobs:
            if input[-1].role == "assistant":  # a prefix: the unit ends here
                return mock_output("<|im_end|>", top=[("<|im_end|>", 0.0)])
            token = "8" if scale else "Bold"
            return mock_output(token, top=[(token, math.log(0.9)), ("I", math.log(0.1))])
        return mock_output("I'd say 30." if scale else "Cautious.")


@pytest.fixture
def no_prefill(monkeypatch):
    monkeypatch.setitem(
        KNOWN_PROVIDERS, "mockllm", replace(KNOWN_PROVIDERS["mockllm"], prefill=False)
    )


def _run(task, script, tmp_path: Path):
    model = get_model("mockllm/model", custom_outputs=script)
    return inspect_eval(task, model=model, display="none", log_dir=str(tmp_path))[0]


def test_without_prefill_auto_samples_and_records_why(tmp_path, no_prefill):
    script = Answers()
    log = _run(risk_self_report(person="self", n_paraphrases=1, n_samples=2), script, tmp_path)
    assert log.status == "success", log.error
    # no request continued an assistant message, none asked for log-probabilities
    assert all(i[-1].role == "user" and not c.logprobs for i, c in script.requests)
    for sample in log.samples:
        score = sample.scores["self_report_scorer"]
        assert score.metadata["method"] == "sampling"
        assert score.metadata["capabilities"]["prefill"] is False
        assert sample.metadata[METHOD_KEY] == "sampled answers"
    # the audit's reader counts the method of every counted sample
    assert read_choice_metric(Path(log.location)).methods == {"sampled answers": 2}


def test_with_prefill_auto_enumerates_and_records_it(tmp_path):
    script = Answers()
    log = _run(risk_self_report(person="self", n_paraphrases=1), script, tmp_path)
    assert log.status == "success", log.error
    assert any(i[-1].role == "assistant" for i, _ in script.requests)  # prefixes continued
    sample = log.samples[0]
    assert sample.scores["self_report_scorer"].metadata["method"] == "logprobs"
    assert sample.metadata[METHOD_KEY] == "enumerated first unit"
    assert read_choice_metric(Path(log.location)).methods == {"enumerated first unit": 2}


def test_logprobs_scoring_without_prefill_is_refused_in_one_line(tmp_path, no_prefill):
    script = Answers()
    log = _run(
        risk_self_report(person="self", n_paraphrases=1, scoring="logprobs"), script, tmp_path
    )
    assert log.status == "error"
    assert str(log.error.message).startswith(
        "risk_self_report: scoring=logprobs (the answer enumeration) needs assistant prefill "
        "(continuing a final assistant message), which provider 'mockllm' does not support "
        "(model mockllm/model): run with -T scoring=sampling"
    )
    assert script.requests == []


def test_logprobs_scoring_on_a_provider_without_logprobs_names_that(tmp_path, monkeypatch):
    monkeypatch.setitem(
        KNOWN_PROVIDERS,
        "mockllm",
        replace(KNOWN_PROVIDERS["mockllm"], prefill=None, logprobs=False),  # as anthropic/
    )
    script = Answers()
    log = _run(
        risk_self_report(person="self", n_paraphrases=1, scoring="logprobs"), script, tmp_path
    )
    assert log.status == "error"
    assert "needs log-probabilities, which provider 'mockllm'" in str(log.error.message)
    assert script.requests == []  # no prefill probe either: it could not help
