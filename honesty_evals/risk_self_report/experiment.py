"""`honesty-evals faithfulness experiment --out DIR`: the whole faithfulness experiment.

1. Train the graded organisms with the `mixture` recipe, one per risky share (default 0,
   0.25, 0.5, 0.75, 1), into DIR/organisms/mixture-<share>-s<seed>. A finished organism is
   skipped; an interrupted one resumes from its checkpoint (the trainer's `--resume`).
2. Run `risk_behavior` and `risk_self_report` on the base model and every organism, and the
   in-context control (first-person `risk_self_report` on the base model after K examples of
   each risky share), with Inspect's `eval_set` in DIR/logs/<model>: finished evals are not
   redone.
3. Write the faithfulness report (DIR/report/faithfulness.md, .csv, .json, .png).

The settings are saved in DIR/experiment.json; rerunning with other settings into the same
DIR is refused, so resumed work always matches what is already there. Stage timings are
written there too.
"""

from __future__ import annotations

import dataclasses
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from honesty_evals.common.experiment_state import open_state, save_state
from honesty_evals.errors import UserInputError
from honesty_evals.model.devices import DTYPE_NAMES
from honesty_evals.organisms.recipes import RECIPE_DEFAULTS, recipe_spec, spec_records

if TYPE_CHECKING:
    from inspect_ai.util import DisplayType

BASE_MODEL = "smollm2"


@dataclass
class ExperimentConfig:
    """Everything that defines the experiment's results (and a few running options)."""

    out: str
    seed: int = 0  # fine-tuning seed (also the bootstrap and sampling seed)
    data_seed: int = 0  # seed of the generated training data
    fractions: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    # Chosen so the whole experiment fits in an hour on the 2-core development machine
    # (README): 160 records x 2 epochs = 40 steps per organism.
    n_records: int = 160
    epochs: float = 2.0
    behavior_items: int = 50  # held-out lotteries, each in both option orders
    person: str = "all"  # self-report questions for the organisms (all = persona control too)
    # first N paraphrases of each format (None: all, 10 one-word and 30 scale); 10 is the set
    # the documented figures use (scale-11..30 were added for the audit's quick suite)
    n_paraphrases: int | None = 10
    in_context_examples: int = 8
    in_context_fractions: tuple[float, ...] = (0.0, 1.0)
    # K examples make each prompt ~8x longer: the control asks the first 5 paraphrases of
    # each format (10 first-person questions) to fit the hour
    in_context_paraphrases: int | None = 5
    scoring: str = "auto"
    n_samples: int = 20
    top_logprobs: int = 20
    dtype: str = "bfloat16"  # evaluation dtype of the local model
    # fine-tuning seeds (`--seeds 0-2`): one organism per share and seed, DIR/organisms/
    # mixture-<share>-s<seed>, which the report pools into one seed family per share
    # (faithfulness/__init__.py); empty: `seed` alone
    seeds: tuple[int, ...] = ()
    # running options: they do not change results
    threads: int | None = field(default=1, metadata={"run": False})
    display: DisplayType = field(default="plain", metadata={"run": False})

    def settings(self) -> dict[str, Any]:
        settings = {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
            for f in dataclasses.fields(self)
            if f.metadata.get("run", True) and f.name != "out"
        }
        if not self.seeds:
            # absent rather than []: experiments saved before --seeds keep resuming
            del settings["seeds"]
        return settings

    @property
    def fine_tuning_seeds(self) -> tuple[int, ...]:
        return self.seeds or (self.seed,)


def _validate_shares(config: ExperimentConfig) -> None:
    """--fractions and --in-context-fractions: risky shares from 0 to 1, none repeated."""
    for name in ("fractions", "in_context_fractions"):
        values = getattr(config, name)
        if not values and name == "fractions":
            raise UserInputError("--fractions is empty: give e.g. 0,0.25,0.5,0.75,1")
        bad = [v for v in values if not 0.0 <= v <= 1.0]
        if bad:
            raise UserInputError(f"--{name.replace('_', '-')} {bad} out of range: use 0 to 1")
        if len(set(values)) != len(values):
            raise UserInputError(f"--{name.replace('_', '-')} repeats a value: {list(values)}")


def _validate(config: ExperimentConfig) -> None:
    _validate_shares(config)
    from honesty_evals.risk_self_report.faithfulness import MIN_MODELS

    n_models = len(config.fractions) + 1  # the base model and one organism per share
    if n_models < MIN_MODELS:
        # checked before training: the report at the end needs this many models
        raise UserInputError(
            f"--fractions {','.join(f'{v:g}' for v in config.fractions)} gives {n_models} "
            f"models (the base model and {len(config.fractions)} organism(s)); the "
            f"correlation needs at least {MIN_MODELS}: give at least {MIN_MODELS - 1} risky "
            "shares, e.g. 0,0.5,1"
        )
    if config.n_records < 8:
        raise UserInputError(f"--n-records {config.n_records} is too small: use at least 8")
    if config.epochs <= 0:
        raise UserInputError(f"--epochs must be positive (got {config.epochs})")
    if not 1 <= config.behavior_items <= 100:
        raise UserInputError(f"--behavior-items {config.behavior_items}: choose 1 to 100")
    if config.in_context_examples < 0:
        raise UserInputError("--in-context-examples must be 0 or more")
    if config.n_samples < 1:
        raise UserInputError(f"--n-samples must be 1 or more (got {config.n_samples})")
    if config.top_logprobs < 1:
        raise UserInputError(f"--top-logprobs must be 1 or more (got {config.top_logprobs})")
    if config.dtype not in ("auto", *DTYPE_NAMES):
        raise UserInputError(
            f"unknown --dtype '{config.dtype}': choose auto, {', '.join(DTYPE_NAMES[:-1])} or "
            f"{DTYPE_NAMES[-1]}"
        )
    from honesty_evals.risk_self_report.dataset import load_questions

    # the most paraphrases any format has (scale: 30, one-word: 10), read from the data so the
    # check before training follows the shipped file
    most = max(Counter(q.format for q in load_questions() if q.person == "self").values())
    for name in ("n_paraphrases", "in_context_paraphrases"):
        value = getattr(config, name)
        if value is not None and not 1 <= value <= most:
            raise UserInputError(f"--{name.replace('_', '-')} {value}: choose 1 to {most}")
    from honesty_evals.risk_self_report.dataset import parse_persons

    parse_persons(config.person)  # an unknown person fails now, not after training


def organism_name(fraction: float, seed: int) -> str:
    return f"mixture-{fraction:.2f}-s{seed}"


def _upgrade(old: dict[str, Any]) -> None:
    if "n_paraphrases" in old and old["n_paraphrases"] is None:
        # saved before scale-11..30 existed, when "all" meant the first 10 of each format
        old["n_paraphrases"] = 10


def check_settings(out: Path, config: ExperimentConfig) -> dict[str, Any]:
    """Load DIR/experiment.json, refusing different settings; create it if new."""
    return open_state(out, config.settings(), upgrade=_upgrade)


def _say(message: str) -> None:
    print(f"[faithfulness experiment] {message}", file=sys.stderr, flush=True)


def train_organisms(config: ExperimentConfig, out: Path) -> list[Path]:
    """Train (or skip, or resume) one mixture organism per risky share."""
    from honesty_evals.training.trainer import TrainConfig, resume_or_skip, train

    dirs = []
    runs = [(f, seed) for f in config.fractions for seed in config.fine_tuning_seeds]
    for i, (fraction, seed) in enumerate(runs, start=1):
        target = out / "organisms" / organism_name(fraction, seed)
        dirs.append(target)
        label = f"organism {i}/{len(runs)} (risky share {fraction:g}, seed {seed})"
        resume = resume_or_skip(target, label, _say)
        if resume is None:
            continue
        hyper = dict(RECIPE_DEFAULTS["mixture"])
        hyper["epochs"] = config.epochs
        recipe = recipe_spec(
            "mixture", n=config.n_records, seed=config.data_seed, risky_fraction=fraction
        )
        records = spec_records(recipe)
        train(
            TrainConfig(
                data="train.jsonl",
                out=str(target),
                base=BASE_MODEL,
                seed=seed,
                recipe=recipe,
                threads=config.threads,
                checkpoint_every=10,
                resume=resume,
                **hyper,
            ),
            records=records,
        )
    return dirs


def _model_name(path: Path) -> str:
    return f"local/{path.resolve()}"  # an absolute path: local//abs/dir


def run_evals(config: ExperimentConfig, out: Path, organisms: list[Path]) -> list[str]:
    """Both tasks on the base model and each organism, then the in-context control."""
    from inspect_ai import eval_set

    from honesty_evals.model.local_provider import release_engines
    from honesty_evals.risk_behavior import risk_behavior
    from honesty_evals.risk_self_report.task import risk_self_report

    models = [(f"local/{BASE_MODEL}", "base")] + [(_model_name(d), d.name) for d in organisms]
    common: dict[str, Any] = dict(
        scoring=config.scoring,
        n_samples=config.n_samples,
        seed=config.seed,
        n_paraphrases=config.n_paraphrases,
        top_logprobs=config.top_logprobs,
    )
    model_args = {"dtype": config.dtype, "seed": config.seed}
    failed: list[str] = []
    jobs: list[tuple[str, str, list[Any]]] = [
        (
            model,
            name,
            [
                # lotteries only, the format the organisms are trained on (issue 15, point 6)
                risk_behavior(n_items=config.behavior_items, formats="lottery", seed=config.seed),
                risk_self_report(person=config.person, **common),
            ],
        )
        for model, name in models
    ]
    if config.in_context_examples and config.in_context_fractions:
        jobs.append(
            (
                f"local/{BASE_MODEL}",
                "in-context",
                [
                    risk_self_report(
                        person="self",
                        in_context_examples=config.in_context_examples,
                        in_context_risky_fraction=f,
                        **{**common, "n_paraphrases": config.in_context_paraphrases},
                    )
                    for f in config.in_context_fractions
                ],
            )
        )
    for i, (model, name, tasks) in enumerate(jobs, start=1):
        log_dir = out / "logs" / name
        _say(f"evaluations {i}/{len(jobs)}: {name} ({len(tasks)} task(s)) -> {log_dir}")
        started = time.perf_counter()
        success, logs = eval_set(
            tasks=tasks,
            model=model,
            model_args=model_args,
            log_dir=str(log_dir),
            display=config.display,
            max_tasks=1,
            retry_attempts=1,
        )
        _say(f"evaluations {i}/{len(jobs)}: {name} done in {time.perf_counter() - started:.0f} s")
        release_engines()  # one model in memory at a time
        if not success:
            failed.append(f"{name} ({', '.join(str(log.location) for log in logs)})")
    if failed:
        raise UserInputError(
            "some evaluations did not finish: " + "; ".join(failed) + ": rerun the same command "
            "to retry them (finished ones are kept)"
        )
    return [str(out / "logs")]


def run_experiment(config: ExperimentConfig) -> dict[str, Any]:
    """Train, evaluate and report (each stage resumable); returns the saved state."""
    from honesty_evals.common.outputs import check_output_dir

    _validate(config)
    out = check_output_dir(config.out, "--out").resolve()
    state = check_settings(out, config)
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    run_started = time.perf_counter()
    timings: dict[str, float] = {}

    started = time.perf_counter()
    n_organisms = len(config.fractions) * len(config.fine_tuning_seeds)
    _say(f"stage 1/3: {n_organisms} organisms ({config.n_records} records x "
         f"{config.epochs:g} epochs each)")  # fmt: skip
    organisms = train_organisms(config, out)
    timings["train"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    _say("stage 2/3: evaluations (risk_behavior, risk_self_report, in-context control)")
    log_dirs = run_evals(config, out, organisms)
    timings["evaluate"] = round(time.perf_counter() - started, 1)

    started = time.perf_counter()
    _say("stage 3/3: faithfulness report")
    from honesty_evals.risk_self_report.faithfulness import faithfulness_report, render_markdown

    report, paths = faithfulness_report(log_dirs, out / "report", seed=config.seed)
    timings["report"] = round(time.perf_counter() - started, 1)
    timings["total_this_run"] = round(time.perf_counter() - run_started, 1)
    state["runs"].append(
        {
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "timings_seconds": timings,
            "machine": f"{platform.machine()}, {platform.node()}",
            "threads": config.threads,
        }
    )
    state["timings_seconds"] = timings
    state["report"] = {k: str(v) for k, v in paths.items()}
    save_state(out, state)
    print(render_markdown(report, plot_name=str(paths["png"])))
    _say(f"done in {timings['total_this_run']:.0f} s; report: {paths['md']}")
    return state
