"""`honesty-evals compare`: paired differences between two scripted backdoor_awareness logs."""

from __future__ import annotations

import pytest
from conftest import ab_logprob_output, mock_output
from inspect_ai import Task, eval
from inspect_ai.dataset import Sample
from inspect_ai.model import get_model
from inspect_ai.scorer import match

from honesty_evals.backdoor_awareness import backdoor_awareness
from honesty_evals.cli import main
from honesty_evals.compare import compare_logs
from honesty_evals.errors import UserInputError

N_QUESTIONS = 10


def _letter_output(p_a: float):
    """A one-token answer whose top logprobs put p_a on "A" and 1 - p_a on "B"."""
    return ab_logprob_output(p_a, 1.0 - p_a, mass=1.0)


def _run(
    tmp_path,
    p_aware_when_a: float,
    p_aware_when_b: float,
    condition: str = "neutral",
    replace: dict[int, object] | None = None,
    **task_args,
):
    """Log where P(aware) is p_aware_when_a for "depends"-as-A samples, and so on.

    Samples run one at a time in dataset order: q00 (aware=A), q00 (aware=B), q01, ...;
    `replace` swaps the output of the sample at that position.
    """
    outputs = []
    for _ in range(N_QUESTIONS):
        outputs.append(_letter_output(p_aware_when_a))  # aware option is A
        outputs.append(_letter_output(1.0 - p_aware_when_b))  # aware option is B
    for position, output in (replace or {}).items():
        outputs[position] = output
    model = get_model("mockllm/model", custom_outputs=outputs)
    log = eval(
        backdoor_awareness(n_paraphrases=N_QUESTIONS, condition=condition, **task_args),
        model=model,
        max_samples=1,
        display="none",
        log_dir=str(tmp_path),
    )[0]
    assert log.status == "success"
    return log.location


def test_paired_difference_of_scripted_logs(tmp_path):
    log_a = _run(tmp_path / "a", 0.9, 0.7)  # every question: (0.9 + 0.7) / 2 = 0.8
    log_b = _run(tmp_path / "b", 0.5, 0.5, condition="honesty")  # every question: 0.5
    comparison = compare_logs(log_a, log_b, seed=3)
    r = comparison.result
    assert r.n_pairs == N_QUESTIONS
    assert r.mean_a == pytest.approx(0.8, abs=1e-6)
    assert r.mean_b == pytest.approx(0.5, abs=1e-6)
    assert r.difference == pytest.approx(0.3, abs=1e-6)
    # a constant difference over 10 questions says nothing about its spread: the interval is
    # the exact one for tied values of a difference of probabilities (common/stats.py)
    reach = 1.0 - 0.025 ** (1 / N_QUESTIONS)
    assert r.ci_low == pytest.approx(0.3 - 1.3 * reach, abs=1e-6)
    assert r.ci_high == pytest.approx(0.3 + 0.7 * reach, abs=1e-6)
    assert r.p_value == pytest.approx(2 * (1 - 0.3 / 1.3) ** N_QUESTIONS, abs=1e-6)
    assert comparison.a.per_order["aware_first"] == pytest.approx(0.9, abs=1e-6)
    assert comparison.a.per_order["aware_second"] == pytest.approx(0.7, abs=1e-6)
    text = comparison.render()
    assert "difference A - B: +0.3000" in text
    assert "honesty" in text and "neutral" in text


UNPARSEABLE = mock_output("The", top=[("The", -0.2), ("I", -1.8)])  # no label among the top


def test_question_with_an_unparsed_order_is_left_out_for_both_logs(tmp_path):
    # A has SmolLM2's order bias: P(aware) 0.9 when "depends" is listed first, 0.1 when
    # second, so every question averages 0.5, like B's. Losing q03's second order would leave
    # q03 at 0.9 in A: a difference of +0.4 on that question that is only position bias.
    log_a = _run(tmp_path / "a", 0.9, 0.1, replace={2 * 3 + 1: UNPARSEABLE})
    log_b = _run(tmp_path / "b", 0.5, 0.5, condition="honesty")
    comparison = compare_logs(log_a, log_b)
    assert comparison.a.incomplete_questions == ["q03"] and comparison.a.n_unparseable == 1
    assert "q03" not in comparison.a.per_question.index
    assert comparison.b.incomplete_questions == []
    r = comparison.result
    assert r.n_pairs == N_QUESTIONS - 1
    assert r.difference == pytest.approx(0.0, abs=1e-6)
    assert comparison.unpaired_questions == ["q03"]
    # the order means are over the complete questions too
    assert comparison.a.per_order["aware_first"] == pytest.approx(0.9, abs=1e-6)
    text = comparison.render()
    assert "left out of the pairing: 1 question(s): q03 (an option order unparsed in A)" in text
    assert "incomplete questions" in text

    # the same question lost in both logs is named with both reasons
    log_b = _run(tmp_path / "b2", 0.5, 0.5, replace={2 * 3: UNPARSEABLE})
    comparison = compare_logs(log_a, log_b)
    assert comparison.result.n_pairs == N_QUESTIONS - 1 and comparison.unpaired_questions == []
    assert comparison.left_out() == {
        "q03": "an option order unparsed in A and an option order unparsed in B"
    }


def test_low_label_mass_is_unparseable_and_settings_must_match(tmp_path):
    low = ab_logprob_output(0.9, 0.1, mass=0.02)
    log_a = _run(tmp_path / "a", 0.8, 0.8, replace={0: low})
    log_b = _run(tmp_path / "b", 0.8, 0.8, replace={0: low}, min_label_mass=0.0)
    comparison = compare_logs(log_a, log_b)
    assert (comparison.a.n_low_mass, comparison.a.n_unparseable) == (1, 1)
    assert comparison.a.incomplete_questions == ["q00"]
    assert (comparison.b.n_low_mass, comparison.b.n_unparseable) == (0, 0)
    assert comparison.a.min_label_mass == pytest.approx(0.05)
    text = comparison.render()
    assert "different min_label_mass (A 0.05, B 0)" in text
    assert comparison.result.n_pairs == N_QUESTIONS - 1


def test_same_model_twice_is_not_significant(tmp_path):
    log_a = _run(tmp_path / "a", 0.6, 0.6)
    log_b = _run(tmp_path / "b", 0.6, 0.6)
    r = compare_logs(log_a, log_b).result
    assert r.difference == pytest.approx(0.0, abs=1e-9)
    assert r.p_value == pytest.approx(1.0)


def test_logs_of_different_tasks_are_refused(tmp_path):
    log_a = _run(tmp_path / "a", 0.9, 0.7)
    other = eval(
        Task(dataset=[Sample(input="hi", target="x")], scorer=match(), name="other_task"),
        model=get_model("mockllm/model", custom_outputs=[_letter_output(0.9)]),
        display="none",
        log_dir=str(tmp_path / "b"),
    )[0]
    with pytest.raises(UserInputError):
        compare_logs(log_a, other.location)


def test_cli_reports_bad_paths_in_one_line(tmp_path, capsys):
    log_a = _run(tmp_path / "a", 0.9, 0.7)
    assert main(["compare", log_a, str(tmp_path / "missing.eval")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "does not exist" in err
    assert main(["compare", log_a, log_a]) == 0
    assert "difference A - B: +0.0000" in capsys.readouterr().out
