"""The audit and `compare` never pair two different measurements (issue 17): a gate whose
sides were scored by different methods is `not_comparable`, never a pass."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import mock_output
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from honesty_evals.audit.gates import (
    Measurement,
    Threshold,
    decide,
    evaluate_difference,
    evaluate_trigger,
    exit_code,
    family_measurement,
)
from honesty_evals.audit.report import short_status, status_text
from honesty_evals.cli import main
from honesty_evals.common.methods import method_mismatch, method_mix_difference
from honesty_evals.compare import compare_logs
from honesty_evals.model.capabilities import KNOWN_PROVIDERS
from honesty_evals.risk_self_report.task import risk_self_report

PREFILL = "flag logprobs in the review turn"
QUESTION = "flag logprobs after a question turn"


def _m(value: float, methods: dict[str, int], n: int = 40) -> Measurement:
    return Measurement(
        per_question={f"q{i:02d}": value for i in range(n)}, n_samples=n, methods=methods
    )


def _gate(cand: Measurement, base: Measurement):
    return decide(
        [evaluate_difference("g", "confession", "m", Threshold("max_abs", 0.2), cand, base)]
    )[0]


def test_a_method_mismatch_is_not_comparable_however_close_the_values():
    r = _gate(_m(0.5, {QUESTION: 40}), _m(0.5, {PREFILL: 40}))
    assert r.status == "not_comparable" and r.reason == "not comparable"
    assert not r.passed and not r.finding and r.p_value is None
    # the figures are still shown, and the note names both methods and a fix
    assert r.value == pytest.approx(0.0) and r.n == 40
    assert f"candidate by {QUESTION} (40 of 40)" in r.note
    assert f"baseline by {PREFILL} (40 of 40)" in r.note
    assert "-T scoring=sampling" in r.note
    assert r.candidate["methods"] == {QUESTION: 40} and r.baseline["methods"] == {PREFILL: 40}
    assert r.to_json()["status"] == "not_comparable"
    assert short_status(r) == "not comparable"
    assert status_text(r).startswith("not comparable (scored by different methods")
    # no verdict: exit 2 like unmeasured, and a failure elsewhere still decides exit 1
    assert exit_code([r]) == 2
    fail = _gate(_m(1.0, {PREFILL: 40}), _m(0.0, {PREFILL: 40}))
    assert fail.status == "fail" and exit_code([r, fail]) == 1


def test_a_large_difference_between_methods_is_no_finding():
    r = _gate(_m(1.0, {QUESTION: 40}), _m(0.0, {PREFILL: 40}))
    assert r.status == "not_comparable" and not r.finding
    assert r.value == pytest.approx(1.0)


@pytest.mark.parametrize(
    "cand, base, comparable",
    [
        ({PREFILL: 40}, {PREFILL: 40}, True),
        ({PREFILL: 39, "written flag": 1}, {PREFILL: 40}, True),  # a rare fallback
        ({PREFILL: 30, "written flag": 10}, {PREFILL: 40}, False),  # a quarter read otherwise
        ({PREFILL: 10, QUESTION: 30}, {PREFILL: 40}, False),
        ({}, {PREFILL: 40}, True),  # a log that records no method is not checked
    ],
)
def test_comparable_when_the_method_mixes_agree(cand, base, comparable):
    r = _gate(_m(0.5, cand), _m(0.5, base))
    assert (r.status != "not_comparable") is comparable
    if comparable:
        assert r.status == "pass"


def test_mix_difference_is_total_variation():
    assert method_mix_difference({"a": 3, "b": 1}, {"a": 1, "b": 3}) == pytest.approx(0.5)
    assert method_mix_difference({"a": 2}, {"b": 5}) == pytest.approx(1.0)
    assert method_mix_difference({}, {"b": 5}) == 0.0
    assert method_mismatch({"a": 2}, {"a": 7}, ("A", "B")) is None


def test_seed_families_sum_their_methods():
    family = family_measurement([_m(0.5, {PREFILL: 40}), _m(0.5, {QUESTION: 40})])
    assert family.methods == {PREFILL: 40, QUESTION: 40}


def test_a_scan_trigger_measured_differently_is_not_comparable():
    a, b = {"x": 10}, {"y": 10}
    r = decide(
        [
            evaluate_trigger(
                "scan", "t", "m", "|T|", Threshold("max_abs", 0.1),
                _m(0.5, a, 80), _m(0.5, a, 80), _m(0.5, b, 80), _m(0.5, b, 80),
            )
        ]
    )[0]  # fmt: skip
    assert r.status == "not_comparable"


# -- end to end: two risk_self_report logs, enumerated and sampled -------------------------------


class Answers:
    def __call__(self, input, tools, tool_choice, config):
        if config.logprobs:
            if input[-1].role == "assistant":
                return mock_output("<|im_end|>", top=[("<|im_end|>", 0.0)])
            return mock_output("5", top=[("5", math.log(0.9)), ("I", math.log(0.1))])
        return mock_output("50")


def _log(tmp_path: Path, name: str, prefill: bool, monkeypatch) -> str:
    monkeypatch.setitem(
        KNOWN_PROVIDERS, "mockllm", replace(KNOWN_PROVIDERS["mockllm"], prefill=prefill)
    )
    model = get_model("mockllm/model", custom_outputs=Answers())
    task = risk_self_report(person="self", question_format="scale", n_paraphrases=3, n_samples=2)
    log = inspect_eval(task, model=model, display="none", log_dir=str(tmp_path / name))[0]
    assert log.status == "success", log.error
    return log.location


def test_compare_marks_logs_of_different_methods_and_exits_2(tmp_path, monkeypatch, capsys):
    enumerated = _log(tmp_path, "local", True, monkeypatch)
    sampled = _log(tmp_path, "api", False, monkeypatch)
    also_sampled = _log(tmp_path, "api2", False, monkeypatch)
    comparison = compare_logs(sampled, enumerated)
    assert comparison.not_comparable is not None
    assert "A by sampled answers (3 of 3); B by enumerated first unit (3 of 3)" in (
        comparison.not_comparable
    )
    assert "NOT COMPARABLE: scored by different methods" in comparison.render()
    assert main(["compare", sampled, enumerated]) == 2
    assert "NOT COMPARABLE" in capsys.readouterr().out
    # the same method on both sides compares as before
    assert compare_logs(sampled, also_sampled).not_comparable is None
    assert main(["compare", sampled, also_sampled]) == 0
