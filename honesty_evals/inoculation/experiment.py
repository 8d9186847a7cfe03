"""`honesty-evals inoculation experiment --out DIR`: train every arm, measure, report.

1. Train one organism per dataset, arm and seed into DIR/organisms/<data>-<arm>/seed-<K>
   (the seed-family layout): the same records and settings for every arm, the arm's prompt
   as the system message of every record. A finished organism is skipped; an interrupted one
   resumes from its checkpoint.
2. Measure every organism without and with its arm's prompt (the `none` arm: without
   only), and the base model without a prompt (`measure.py`). Each measurement is appended to
   DIR/results.jsonl (rewritten atomically) as soon as it is done; a rerun skips those there.
3. Write the report: DIR/report/summary.md (table, contrasts and the plain answer),
   results.csv, summary.json and plot.png.

The settings (the prompts in use included) are saved in DIR/experiment.json; rerunning with
other settings into the same DIR is refused, so resumed work always matches.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.common.experiment_state import open_state, save_state
from honesty_evals.common.jsonl import jsonl_text
from honesty_evals.common.validate import whole_number
from honesty_evals.errors import UserInputError
from honesty_evals.inoculation.arms import ARMS, DATASETS, arm_prompts
from honesty_evals.inoculation.measure import (
    BASE_ARM,
    MEASURES,
    WITH,
    WITHOUT,
    EvalSettings,
    Job,
    measure,
)
from honesty_evals.model.devices import DTYPE_NAMES
from honesty_evals.organisms.home_advice import MAX_RECORDS
from honesty_evals.organisms.recipes import RECIPE_DEFAULTS, recipe_n_records, recipe_spec

RECIPES = {"lotteries": "risk-seeking-format", "em": "em-home-advice"}
RESULTS_FILE = "results.jsonl"
BASE_MODEL = "smollm2"

# `--quick`: sized so the whole experiment (2 datasets x 5 arms x 3 seeds = 30 organisms)
# fits in 90 minutes on an idle 2-core machine, estimated (not timed) from ~770 training
# tokens/s: 120 records, 108 after the fit check's hold-out, x 3 epochs = 324 records a run;
# a lottery record with its system prompt is ~100 tokens and a home-advice one ~65, so
# 15 x 32k + 15 x 21k tokens = ~800k tokens, ~17 min, plus ~15 s a run of loading and fit
# check (~8 min). The measurements, 28 model/prompt conditions per dataset: 20 lotteries
# (40 one-token reads and 40 greedy answers of 8 tokens), the 12 advice choices, and 8 EM
# questions with one answer each, are the rest of the budget.
QUICK = {"n_records": 120, "epochs": 3.0, "trait_items": 20, "em_questions": 8, "n_answers": 1}


@dataclass
class InoculationConfig:
    """Everything that defines the experiment's results (and a few running options)."""

    out: str
    data: tuple[str, ...] = DATASETS
    arms: tuple[str, ...] = ARMS
    seeds: tuple[int, ...] = (0, 1, 2)
    data_seed: int = 0  # seed of the generated training records (one dataset for all arms)
    prompt_seed: int = 0  # seed of the random arm's string
    prompt_overrides: dict[str, dict[str, str]] = field(default_factory=dict)  # --prompts
    n_records: int | None = None  # None: the recipe's own (300 lotteries, 256 advice)
    epochs: float = 3.0
    trait_items: int = 100  # held-out lotteries, each in both orders
    em_questions: int | None = None  # EM task questions (None: all)
    n_answers: int = 2  # answers per EM question
    grader: str | None = None  # the EM task's grader (None: its offline default)
    base: str = BASE_MODEL
    dtype: str = "bfloat16"  # evaluation dtype of the local model
    quick: bool = False
    # running options: they do not change results
    threads: int | None = field(default=1, metadata={"run": False})
    display: Any = field(default="plain", metadata={"run": False})

    def __post_init__(self) -> None:
        if self.quick:
            for name, value in QUICK.items():
                setattr(self, name, value)

    def prompts(self) -> dict[str, dict[str, str | None]]:
        """data -> arm -> the arm's training prompt."""
        return {
            d: arm_prompts(d, self.prompt_seed, self.prompt_overrides, self.arms).prompts
            for d in self.data
        }

    def settings(self) -> dict[str, Any]:
        settings = {
            f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
            for f in dataclasses.fields(self)
            if f.metadata.get("run", True) and f.name not in ("out", "prompt_overrides")
        }
        settings["prompts"] = self.prompts()
        return settings

    def eval_settings(self) -> EvalSettings:
        return EvalSettings(
            trait_items=self.trait_items,
            em_questions=self.em_questions,
            n_answers=self.n_answers,
            grader=self.grader,
            dtype=self.dtype,
            display=self.display,
        )


def validate(config: InoculationConfig) -> None:
    """Every setting checked before anything is trained."""
    if not config.seeds:
        raise UserInputError("--seeds is empty: give e.g. 0-2")
    if "none" not in config.arms:
        raise UserInputError("--arms must include none: every contrast is against it")
    for name, low, high in (("n_records", 8, None), ("trait_items", 1, 100),
                            ("em_questions", 1, None), ("n_answers", 1, None)):  # fmt: skip
        value = getattr(config, name)
        if value is not None:
            whole_number(value, "--" + name.replace("_", "-"), low, high)
    if not config.epochs > 0:
        raise UserInputError(f"--epochs must be positive (got {config.epochs})")
    if config.dtype not in ("auto", *DTYPE_NAMES):  # checked here: before any training
        raise UserInputError(f"unknown --dtype '{config.dtype}': use auto or one of {DTYPE_NAMES}")
    if "em" in config.data and _n_records(config, "em") > MAX_RECORDS:
        raise UserInputError(
            f"--n-records {config.n_records}: the home-advice data have {MAX_RECORDS} "
            f"records at most (32 topics x 8 phrasings); use {MAX_RECORDS} or fewer"
        )


def _n_records(config: InoculationConfig, data: str) -> int:
    return recipe_n_records(RECIPES[data], config.n_records)


def _say(message: str) -> None:
    print(f"[inoculation experiment] {message}", file=sys.stderr, flush=True)


def organism_dir(out: Path, data: str, arm: str, seed: int) -> Path:
    from honesty_evals.training.family import seed_dir

    return seed_dir(out / "organisms" / f"{data}-{arm}", seed)


def model_name(path: Path) -> str:
    return f"local/{path.resolve()}"  # an absolute path: local//abs/dir


def train_arms(config: InoculationConfig, out: Path) -> None:
    """Train (or skip, or resume) one organism per dataset, arm and seed."""
    from honesty_evals.organisms.recipes import spec_records
    from honesty_evals.training.trainer import TrainConfig, resume_or_skip, train

    prompts = config.prompts()
    plan = [(d, a, s) for d in config.data for a in config.arms for s in config.seeds]
    for i, (data, arm, seed) in enumerate(plan, start=1):
        target = organism_dir(out, data, arm, seed)
        label = f"organism {i}/{len(plan)} ({data}, arm {arm}, seed {seed})"
        resume = resume_or_skip(target, label, _say)
        if resume is None:
            continue
        recipe = recipe_spec(
            RECIPES[data],
            n=_n_records(config, data),
            seed=config.data_seed,
            system_prompt=prompts[data][arm],
        )
        hyper = dict(RECIPE_DEFAULTS[RECIPES[data]]) | {"epochs": config.epochs}
        target.parent.mkdir(parents=True, exist_ok=True)
        train(
            TrainConfig(
                data="train.jsonl",
                out=str(target),
                base=config.base,
                seed=seed,
                recipe=recipe,
                threads=config.threads,
                checkpoint_every=10,
                resume=resume,
                **hyper,
            ),
            records=spec_records(recipe),
        )


def plan_jobs(config: InoculationConfig, out: Path) -> Iterator[Job]:
    """Every measurement: the base model without a prompt, then each organism without and
    (except the none arm) with its arm's prompt."""
    prompts = config.prompts()
    # a folder by its absolute path (local//abs/dir); a name (smollm2) as the provider knows it
    base_dir = Path(config.base).expanduser()
    base = model_name(base_dir) if base_dir.is_dir() else f"local/{config.base}"
    for data in config.data:
        for m in MEASURES[data]:
            yield Job(data, BASE_ARM, None, WITHOUT, m, base, None)
        for arm in config.arms:
            for seed in config.seeds:
                model = model_name(organism_dir(out, data, arm, seed))
                conditions: list[tuple[str, str | None]] = [(WITHOUT, None)]
                if prompts[data][arm] is not None:
                    conditions.append((WITH, prompts[data][arm]))
                for prompt, system_prompt in conditions:
                    for m in MEASURES[data]:
                        yield Job(data, arm, seed, prompt, m, model, system_prompt)


def read_results(out: Path) -> list[dict[str, Any]]:
    """The rows of DIR/results.jsonl (none yet: an empty list)."""
    path = out / RESULTS_FILE
    if not path.is_file():
        return []
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            raise UserInputError(
                f"{path}:{number}: not valid JSON: remove that line to measure it again"
            ) from None
    return rows


def write_results(out: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(out / RESULTS_FILE, jsonl_text(rows))


Measure = Callable[[Job, Path, EvalSettings], dict[str, Any]]


def measure_all(config: InoculationConfig, out: Path, run: Measure = measure) -> list[dict]:
    """Run every planned measurement not in DIR/results.jsonl yet; all rows."""
    from honesty_evals.model.local_provider import release_engines

    rows = read_results(out)
    done = {r["key"] for r in rows}
    jobs = [j for j in plan_jobs(config, out) if j.key not in done]
    _say(f"{len(done)} measurements already done, {len(jobs)} to run")
    settings = config.eval_settings()
    last_model = None
    for i, job in enumerate(jobs, start=1):
        if last_model is not None and job.model != last_model:
            release_engines()  # one model in memory at a time
        last_model = job.model
        _say(f"measurement {i}/{len(jobs)}: {job.key}")
        rows.append(run(job, out, settings))
        write_results(out, rows)
    release_engines()
    return rows


def run_experiment(config: InoculationConfig, run: Measure = measure) -> dict[str, Any]:
    """Train, measure and report (each stage resumable); returns the saved state."""
    from honesty_evals.common.outputs import check_output_dir
    from honesty_evals.inoculation.report import write_report
    from honesty_evals.inoculation.summary import summarize

    validate(config)
    out = check_output_dir(config.out, "--out").resolve()
    state = open_state(out, config.settings())
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    n_organisms = len(config.data) * len(config.arms) * len(config.seeds)
    _say(f"stage 1/3: {n_organisms} organisms")
    train_arms(config, out)
    timings["train"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    _say("stage 2/3: measurements")
    rows = measure_all(config, out, run)
    timings["measure"] = round(time.perf_counter() - started, 1)
    _say("stage 3/3: report")
    summary = summarize(rows)
    paths = write_report(summary, rows, config.prompts(), out / "report")
    state["runs"].append({"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "timings": timings})
    state["report"] = {k: str(v) for k, v in paths.items()}
    save_state(out, state)
    for data, text in summary.answers.items():
        print(f"{data}: {text}")
    _say(f"report: {paths['md']}")
    return state
