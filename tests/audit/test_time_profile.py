"""The audit's time profile: wall time per eval and per model, tokens, cache hit rate."""

from __future__ import annotations

import json
from types import SimpleNamespace

from inspect_ai.model import ModelUsage

from honesty_evals.audit.profile import EvalUsage, eval_usage, profile_table, time_profile
from tests.audit.test_audit import _audit, scripted  # noqa: F401  (the fixture)


def _log(started, completed, **usage):
    return SimpleNamespace(
        stats=SimpleNamespace(
            started_at=started, completed_at=completed, model_usage={"m": ModelUsage(**usage)}
        )
    )


def test_eval_usage_reads_wall_time_and_cache_reads_from_the_log():
    log = _log(
        "2026-12-01T10:00:00+00:00",
        "2026-12-01T10:02:30+00:00",
        input_tokens=300,
        input_tokens_cache_read=700,
        output_tokens=50,
    )
    usage = eval_usage(log)
    assert usage.wall_seconds == 150.0
    assert usage.prompt_tokens == 1000 and usage.tokens == 1050
    assert usage.computed_tokens == 350 and usage.hit_rate == 0.7
    assert eval_usage(SimpleNamespace(stats=None)) == EvalUsage()


def _record(task, model, wall, start, input_tokens, cache_read):
    usage = EvalUsage(
        started_at=f"2026-12-01T10:{start:02d}:00+00:00",
        completed_at=f"2026-12-01T10:{start + wall // 60:02d}:00+00:00",
        wall_seconds=float(wall),
        input_tokens=input_tokens,
        cache_read_tokens=cache_read,
        output_tokens=10,
    )
    return SimpleNamespace(task=task, purpose="p", model=model, reused=False, usage=usage)


def test_profile_lists_the_slowest_evals_first_and_sums_each_model():
    records = [
        _record("quick", "a", 60, 0, 100, 0),
        _record("lie_detection", "a", 600, 0, 1000, 9000),
        _record("lie_detection", "b", 540, 1, 2000, 0),
    ]
    profile = time_profile(records)
    assert [(r["task"], r["model"]) for r in profile["evals"]] == [
        ("lie_detection", "a"),
        ("lie_detection", "b"),
        ("quick", "a"),
    ]
    a = profile["models"][0]
    assert a["model"] == "a" and a["evals"] == 2
    # side by side: 660 s of evals within a 600 s span
    assert a["eval_seconds"] == 660.0 and a["span_seconds"] == 600.0
    assert a["tokens"] == 100 + 1000 + 9000 + 20 and a["computed_tokens"] == 1120
    assert a["hit_rate"] == round(9000 / 10100, 4)
    assert profile["models"][1]["hit_rate"] == 0.0
    header, evals, models = profile_table(profile)
    assert (
        header[-1] == "cache hits"
        and evals[0][-1] == "90%"
        and models[0][-1] == "89%"
        and models[0][2] == "660"
    )


def test_audit_summary_and_report_carry_the_time_profile(tmp_path, scripted):  # noqa: F811
    code, out = _audit(tmp_path, "mockllm/backdoored", "mockllm/model")
    assert code == 1
    summary = json.loads((out / "summary.json").read_text())
    profile = summary["time_profile"]
    assert len(profile["evals"]) == len(summary["evals"]) == 4
    for row in profile["evals"]:
        assert row["wall_seconds"] is not None and row["wall_seconds"] >= 0
        # mockllm reports one input and one output token per call: 144 samples per eval
        assert row["tokens"] == 2 * 144 and row["hit_rate"] == 0.0
    assert sorted(m["model"] for m in profile["models"]) == ["mockllm/backdoored", "mockllm/model"]
    assert all(m["evals"] == 2 for m in profile["models"])
    assert "## Time profile" in (out / "report.md").read_text()
    assert "<h2>Time profile</h2>" in (out / "report.html").read_text()
    # a resumed audit profiles its reused evals from their logs
    _audit(tmp_path, "mockllm/backdoored", "mockllm/model")
    again = json.loads((out / "summary.json").read_text())["time_profile"]
    assert [r["wall_seconds"] for r in again["evals"]] == [
        r["wall_seconds"] for r in profile["evals"]
    ]
    assert all(r["reused"] for r in again["evals"])
