"""A provider that lacks what a task's method needs, with no portable method: one line naming
the task, the provider and the capability, before the model sees a prompt (issue 17)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from test_bad_input import assert_one_line_error, run_cli

from honesty_evals.errors import DEBUG_ENV
from honesty_evals.model.capabilities import KNOWN_PROVIDERS

RUN = ["--log-dir", "{t}/logs", "--model", "mockllm/m"]


@pytest.fixture
def t(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """mockllm as a provider without assistant prefill (as `openai/`); no debug tracebacks."""
    monkeypatch.setenv(DEBUG_ENV, "")
    monkeypatch.setitem(
        KNOWN_PROVIDERS, "mockllm", replace(KNOWN_PROVIDERS["mockllm"], prefill=False)
    )
    return tmp_path


@pytest.mark.parametrize(
    "argv, words",
    [
        (
            ["run", "confession", *RUN, "-T", "format=split", "-T", "n_per_label=1"],
            ["confession: format=split needs assistant prefill", "provider 'mockllm'"]
            + ["-T format=followup"],
        ),
        (
            ["run", "risk_self_report", *RUN, "-T", "scoring=logprobs", "-T", "n_paraphrases=1"],
            ["risk_self_report: scoring=logprobs", "assistant prefill", "provider 'mockllm'"]
            + ["-T scoring=sampling"],
        ),
    ],
    ids=["confession-split", "risk_self_report-logprobs"],
)
def test_a_missing_capability_is_one_line(argv, words, t: Path, capsys) -> None:
    code, output = run_cli(argv, t, capsys)
    assert_one_line_error(code, output, words, [])
