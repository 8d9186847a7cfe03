"""The one task list: every task describes itself, and a new task is one folder + one line."""

from __future__ import annotations

import json

import pytest
from conftest import mock_output

from honesty_evals._registry import TASK_PACKAGES, task_info, task_infos, task_names
from honesty_evals.errors import UserInputError

TOY_TASK = """
    from inspect_ai import Task, task
    from inspect_ai.dataset import Sample
    from inspect_ai.scorer import Score, Target, scorer
    from inspect_ai.solver import TaskState, generate

    from honesty_evals.common.metrics import (
        ci95,
        cluster_stderr,
        n_parsed,
        n_unparseable,
        parsed_mean,
    )
    from honesty_evals.common.taskargs import checked_task

    TASK_VERSION = 1


    @scorer(metrics=[parsed_mean(), cluster_stderr(), ci95(), n_parsed(), n_unparseable()])
    def answered():
        async def score(state: TaskState, target: Target) -> Score:
            return Score(
                value=1.0 if state.output.completion else 0.0,
                metadata={"parsed": True, "cluster": state.metadata["question_id"]},
            )

        return score


    @task
    @checked_task
    def toy_eval(n_questions: int = 24, allow_unverified: bool = False) -> Task:
        return Task(
            dataset=[
                Sample(input=f"Question {i}?", metadata={"question_id": f"q{i}"})
                for i in range(n_questions)
            ],
            solver=generate(),
            scorer=answered(),
            version=TASK_VERSION,
            metadata={"headline": "P(answered)"},
        )
"""

TOY_DESCRIBE = """
    from honesty_evals.common.headline import mean_headline
    from honesty_evals.common.measurement import read_choice_metric
    from honesty_evals.common.taskinfo import AuditMetric, TaskInfo
    from toy_eval.task import TASK_VERSION, toy_eval

    TASK_INFO = TaskInfo(
        name="toy_eval",
        task=toy_eval,
        version=TASK_VERSION,
        headline=mean_headline,
        metrics=(
            AuditMetric("p_answered", "P(answered)", True, read_choice_metric, "answered"),
        ),
    )
"""


def test_every_task_folder_describes_the_task_it_holds():
    assert task_names() == tuple(package.rsplit(".", 1)[1] for package in TASK_PACKAGES)
    assert "lie_detection" in task_names()  # `honesty-evals run` refused it before
    for name, info in task_infos().items():
        assert info.task.__name__ == name and info.inspect_name == f"honesty_evals/{name}"
        assert info.metrics and info.version in info.readable_versions
        assert info.task(allow_unverified=True).version == info.version


def test_an_unknown_task_is_one_line_naming_every_task():
    with pytest.raises(UserInputError) as err:
        task_info("lie_detector")
    assert str(err.value) == f"unknown task 'lie_detector': choose one of {', '.join(task_names())}"


def _mockllm(*_: object):
    from inspect_ai.model import get_model

    # scripted answers: the default mockllm output counts tokens with tiktoken (a download)
    return get_model("mockllm/model", custom_outputs=lambda *a: mock_output("Yes."), memoize=False)


def test_a_task_added_as_one_folder_and_one_line_runs_everywhere(
    tmp_path, add_task_package, monkeypatch
):
    from inspect_ai import eval as inspect_eval

    from honesty_evals.audit import runner
    from honesty_evals.audit.registry import audit_tasks
    from honesty_evals.audit.report import write_report
    from honesty_evals.audit.suite import load_suite

    add_task_package("toy_eval", {"task.py": TOY_TASK, "describe.py": TOY_DESCRIBE})

    # `inspect eval` and `honesty-evals run`: the run command finds the task by name, runs it
    # by its Inspect name and prints its headline
    assert "toy_eval" in task_names()
    info = task_info("toy_eval")
    log = inspect_eval(
        info.inspect_name,
        model=_mockllm(),
        task_args={"n_questions": 4},
        log_dir=str(tmp_path / "logs"),
        display="none",
    )[0]
    assert log.status == "success", log.error
    assert log.eval.task_version == 1
    headline = info.headline(log)
    assert headline.startswith("P(answered) = 1.000 (95% CI") and "n = 4 samples" in headline

    # the audit: the suite validator accepts it, its metric is read, its gate decided
    assert audit_tasks()["toy_eval"].metric("p_answered") is not None
    suite_file = tmp_path / "toy.yaml"
    suite_file.write_text(
        "tasks:\n  - task: toy_eval\n    gates: [{metric: p_answered, max_abs: 0.1}]\n"
    )
    suite = load_suite(suite_file)
    out = tmp_path / "audit"
    monkeypatch.setattr(runner, "_resolve_model", _mockllm)
    result = runner.run_audit(
        runner.AuditConfig("mockllm/model", "mockllm/model", suite, out, display="none"),
        echo=lambda line: None,
    )
    assert [(g.task, g.metric, g.status) for g in result.gates] == [
        ("toy_eval", "p_answered", "pass")
    ]
    write_report(result, out)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"] == "pass" and summary["gates"][0]["task"] == "toy_eval"
