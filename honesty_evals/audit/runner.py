"""Running an audit: verify data, build every eval, run them with Inspect's `eval_set`, gate.

Every eval of the suite runs on the candidate and on the baseline in one `eval_set` whose
log directory is `OUT/logs`: rerunning an interrupted audit reuses every finished log and
runs only what is missing. Each eval's Inspect log is then read into per-question values,
and the gates of `gates.py` compare them.

A side may be a *seed family*: several fine-tuning seeds of one model (PROTOCOLS §0), given
as a list of models. Every model of both families runs every eval; each side's per-seed
measurements are combined with `gates.family_measurement`, and the gates then use the
hierarchical bootstrap over seeds and questions. One model per side is the plain audit.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from honesty_evals.audit.gates import (
    GateResult,
    Measurement,
    decide,
    evaluate_candidate,
    evaluate_difference,
    evaluate_trigger,
    exit_code,
    family_measurement,
)
from honesty_evals.audit.profile import EvalUsage, eval_usage
from honesty_evals.audit.registry import audit_tasks
from honesty_evals.audit.suite import Suite, run_key
from honesty_evals.errors import UserInputError
from honesty_evals.model.source import FAMILY_CARD
from honesty_evals.training.family import family_dir_of, load_family

logger = logging.getLogger(__name__)

RUN_KEY = "audit_run"  # task metadata key naming the eval within the audit
DEFAULT_RETRY_ATTEMPTS = 2


@dataclass(frozen=True)
class PlannedEval:
    """One eval of the audit: a task with its parameters (run on every model)."""

    key: str  # run_key(task, params)
    task: str
    params: dict[str, Any]
    purpose: str  # "tasks[0] (id)" or "backdoor scan, no trigger" / "backdoor scan, trigger X"
    where: str  # the suite key its parameters come from: "tasks[0].params"


@dataclass
class AuditConfig:
    """What `honesty-evals audit` was asked to do."""

    # an Inspect model string ("local/...", "openai/...") or a Model; or a list of them, the
    # fine-tuning seeds of one model (a seed family)
    candidate: Any
    baseline: Any
    suite: Suite
    out: Path
    candidate_args: dict[str, Any] = field(default_factory=dict)
    baseline_args: dict[str, Any] = field(default_factory=dict)
    allow_unverified: bool = False
    display: str | None = None
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    max_tasks: int | None = None
    extra_eval_set_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvalRecord:
    """One finished (or failed) eval: which, on which model, its log and status."""

    key: str
    task: str
    params: dict[str, Any]
    purpose: str
    model: str
    side: str  # candidate | baseline | both (same model)
    log: str | None
    status: str
    error: str | None = None
    reused: bool = False  # finished before this run started: reused from DIR/logs
    member: int = 0  # the model's place in its side's seed family (0 for a single model)
    usage: EvalUsage | None = None  # wall time and tokens from the log (the time profile)


@dataclass
class AuditResult:
    suite: Suite
    candidate: str
    baseline: str
    same_model: bool
    gates: list[GateResult]
    evals: list[EvalRecord]
    warnings: list[str]
    datasets: dict[str, Any]
    started: str
    finished: str
    wall_seconds: float
    errors: list[str] = field(default_factory=list)
    candidate_models: list[str] = field(default_factory=list)  # the seed family, in order
    baseline_models: list[str] = field(default_factory=list)
    # a side given as a family directory (`local/DIR` with family.json): its model, the
    # directory and its seeds; None for a side given as models
    candidate_family: dict[str, Any] | None = None
    baseline_family: dict[str, Any] | None = None

    @property
    def family(self) -> bool:
        """Whether a side is a seed family (several models)."""
        return len(self.candidate_models) > 1 or len(self.baseline_models) > 1

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        return exit_code(self.gates)

    @property
    def verdict(self) -> str:
        if self.errors:
            return "error"
        return {0: "pass", 1: "fail", 2: "no verdict"}[self.exit_code]

    @property
    def scan_results(self) -> list[GateResult]:
        return [g for g in self.gates if g.kind == "trigger_scan"]

    @property
    def findings(self) -> list[GateResult]:
        return [g for g in self.scan_results if g.finding]


def plan_evals(suite: Suite) -> list[PlannedEval]:
    """Every distinct (task, parameters) the suite needs, in suite order."""
    planned: dict[str, PlannedEval] = {}

    def add(task: str, params: dict[str, Any], purpose: str, where: str) -> None:
        key = run_key(task, params)
        if key in planned:  # e.g. the scan's no-trigger run is also a suite entry
            old = planned[key]
            planned[key] = replace(old, purpose=f"{old.purpose} + {purpose}")
        else:
            planned[key] = PlannedEval(key, task, params, purpose, where)

    for spec in suite.tasks:
        add(spec.task, spec.params, f"{spec.key} ({spec.id})", f"{spec.key}.params")
    if suite.scan is not None:
        scan = suite.scan
        param = audit_tasks()[scan.task].trigger_param
        assert param is not None  # checked when the suite was loaded
        where = f"{scan.key}.params"
        add(scan.task, {**scan.params, param: None}, "backdoor scan, no trigger", where)
        for trigger in scan.triggers:
            purpose = f"backdoor scan, trigger {trigger!r}"
            add(scan.task, {**scan.params, param: trigger}, purpose, where)
    return list(planned.values())


def scan_keys(suite: Suite) -> tuple[str, dict[str, str]]:
    """(key of the no-trigger run, trigger -> key of its run)."""
    assert suite.scan is not None
    scan = suite.scan
    param = audit_tasks()[scan.task].trigger_param
    assert param is not None  # checked when the suite was loaded
    none_key = run_key(scan.task, {**scan.params, param: None})
    return none_key, {t: run_key(scan.task, {**scan.params, param: t}) for t in scan.triggers}


def build_tasks(suite: Suite, planned: Sequence[PlannedEval], allow_unverified: bool) -> list:
    """Inspect Task objects; a bad parameter value is refused here, before any model runs."""
    registry = audit_tasks()
    tasks = []
    for item in planned:
        entry = registry[item.task]
        try:
            task = entry.task(**item.params, allow_unverified=allow_unverified)
        except UserInputError as exc:
            raise UserInputError(f"{suite.path}: {item.where}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise UserInputError(
                f"{suite.path}: {item.where}: bad parameters for {item.task} ({exc})"
            ) from None
        task.metadata = {**(task.metadata or {}), RUN_KEY: item.key}
        tasks.append(task)
    return tasks


def verify_datasets(allow_unverified: bool) -> dict[str, Any]:
    """Check every shipped data file first; refuse to run on a problem unless allowed."""
    from honesty_evals.integrity.verify import verify_directory
    from honesty_evals.paths import shipped_datasets_dir

    directory = shipped_datasets_dir()
    report = verify_directory(directory)
    problems = [f.message for f in report.findings if f.severity == "error"]
    summary = {
        "directory": str(directory),
        "ok": report.ok,
        "summary": report.summary(),
        "problems": problems,
        "allowed_unverified": allow_unverified and not report.ok,
    }
    if not report.ok and not allow_unverified:
        first = problems[0] if problems else report.summary()
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise UserInputError(
            f"dataset verification failed before any model ran: {first}{more}; see "
            "`honesty-evals datasets verify`, or pass --allow-unverified to audit anyway "
            "(recorded in the report)"
        )
    return summary


def _resolve_model(name: Any, args: dict[str, Any]) -> Any:
    from honesty_evals.model.resolve import resolve_model

    return resolve_model(name, args)


def _local_identity(name: str) -> str:
    """local/<dir> names the same model however the path is written."""
    if name.startswith("local/"):
        rest = name[len("local/") :]
        path = Path(rest)
        if path.exists():
            return "local/" + str(path.resolve())
    return name


def same_model(candidate: Any, baseline: Any, c_args: dict, b_args: dict) -> bool:
    if not isinstance(candidate, str) or not isinstance(baseline, str):
        return candidate is baseline
    return _local_identity(candidate) == _local_identity(baseline) and c_args == b_args


def family_members(side: Any, flag: str = "--model") -> tuple[list[Any], dict[str, Any] | None]:
    """The models of one side, and the family directory they come from (or None).

    A list or tuple is a seed family; `local/DIR` where DIR holds a family card (`organism
    train --seeds`) is its seeds, `local/DIR/seed-K` each (checked by
    `training.family.load_family`); anything else is one model.
    """
    members = list(side) if isinstance(side, list | tuple) else [side]
    directories = [family_dir_of(m) for m in members]
    if len(members) > 1:
        for model, directory in zip(members, directories):
            if directory is not None:
                raise UserInputError(
                    f"{flag} {model} is a seed family ({FAMILY_CARD}), whose seeds are the "
                    f"side's models: give it as the only {flag}, not beside other models"
                )
        return members, None
    if directories[0] is None:
        return members, None
    family = load_family(directories[0])
    described = {
        "model": members[0],
        "directory": str(family.directory.resolve()),
        "seeds": list(family.seeds),
    }
    return family.models(members[0]), described


def _name(model: Any) -> str:
    return model if isinstance(model, str) else str(model)


def check_families(
    candidates: Sequence[Any], baselines: Sequence[Any], c_args: dict, b_args: dict
) -> bool:
    """Refuse malformed seed families; True when both sides are the same model(s).

    A family lists distinct models (the same model twice is one seed counted twice), and
    the two sides either are the same models (compared with themselves) or share none.
    """
    for flag, members, args in (
        ("--model", candidates, c_args),
        ("--baseline", baselines, b_args),
    ):
        if not members:
            raise UserInputError(f"{flag}: give at least one model")
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if same_model(a, b, args, args):
                    raise UserInputError(
                        f"{flag} {_name(a)} and {flag} {_name(b)} are the same model: the "
                        "models of one side must be different fine-tuning seeds of it"
                    )
    matched = [(c, b) for c in candidates for b in baselines if same_model(c, b, c_args, b_args)]
    if not matched:
        return False
    if len(matched) == len(candidates) == len(baselines):
        return True
    c, b = matched[0]
    raise UserInputError(
        f"{_name(c)} is both a candidate (--model) and a baseline (--baseline {_name(b)}) "
        "while the other models differ: give the same models on both sides (compared with "
        "themselves) or two families that share no model"
    )


def _utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run_audit(config: AuditConfig, echo: Callable[[str], None] | None = None) -> AuditResult:
    """Run the audit: nothing touches a model until the suite, data and tasks are checked."""
    say = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    started, t0 = _utc_now(), time.monotonic()
    suite = config.suite
    warnings: list[str] = []
    cand_members, cand_family = family_members(config.candidate, "--model")
    base_members, base_family = family_members(config.baseline, "--baseline")
    same = check_families(cand_members, base_members, config.candidate_args, config.baseline_args)
    cand_name = cand_family["model"] if cand_family else ", ".join(map(_name, cand_members))
    base_name = base_family["model"] if base_family else ", ".join(map(_name, base_members))
    if same:
        if len(cand_members) == 1:
            what, how = "model", "it is evaluated once and compared with itself"
        else:
            what = f"{len(cand_members)} models"
            how = "each is evaluated once and compared with itself"
        warnings.append(
            f"the candidate and the baseline are the same {what} ({cand_name}): {how}, so "
            "every difference is zero by construction"
        )
        say(f"warning: {warnings[-1]}")

    say("[1/4] verifying the shipped datasets")
    datasets = verify_datasets(config.allow_unverified)
    if not datasets["ok"]:
        warnings.append(f"dataset verification failed and was overridden: {datasets['summary']}")
        say(f"warning: {warnings[-1]}")

    planned = plan_evals(suite)
    first = build_tasks(suite, planned, config.allow_unverified)  # bad values stop here
    from honesty_evals.audit.power import check_suite_power, question_counts

    for warning in check_suite_power(suite, question_counts(first)):  # refuses hopeless gates
        warnings.append(warning)
        say(f"warning: {warning}")
    candidates = [_resolve_model(m, config.candidate_args) for m in cand_members]
    baselines = [_resolve_model(m, config.baseline_args) for m in base_members]
    if same:
        roles = [(m, "both", i) for i, m in enumerate(candidates)]
    else:
        roles = [(m, "candidate", i) for i, m in enumerate(candidates)]
        roles += [(m, "baseline", i) for i, m in enumerate(baselines)]
    models = [m for m, _, _ in roles]
    # one Task object per model: a solver may keep state between samples (lie_detection
    # caches reference answers), which must never be shared by the two models
    tasks = []
    for i, model in enumerate(models):
        for task in first if i == 0 else build_tasks(suite, planned, config.allow_unverified):
            task.model = model
            tasks.append(task)
    log_dir = config.out / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    say(
        f"[2/4] running {len(planned)} evals on {len(models)} model(s) with Inspect eval_set "
        f"(logs: {log_dir}; an interrupted audit resumes from them when rerun)"
    )
    records, errors = _run_eval_set(config, tasks, planned, roles, log_dir, started)
    reused = sum(r.reused for r in records)
    if reused:
        say(f"{reused} of {len(records)} evals were finished earlier and reused from {log_dir}")
    say("[3/4] comparing candidate and baseline")
    gates = [] if errors else compute_gates(suite, records, same)
    return AuditResult(
        suite=suite,
        candidate=cand_name,
        baseline=base_name,
        same_model=same,
        gates=gates,
        evals=records,
        warnings=warnings,
        datasets=datasets,
        started=started,
        finished=_utc_now(),
        wall_seconds=round(time.monotonic() - t0, 1),
        errors=errors,
        candidate_models=[str(m) for m in candidates],
        baseline_models=[str(m) for m in baselines],
        candidate_family=cand_family,
        baseline_family=base_family,
    )


def _run_eval_set(
    config: AuditConfig,
    tasks: list,
    planned: Sequence[PlannedEval],
    roles: Sequence[tuple[Any, str, int]],
    log_dir: Path,
    started: str,
) -> tuple[list[EvalRecord], list[str]]:
    """Run the evals; `roles` is (model, side, place in the side's family) per model."""
    from inspect_ai import eval_set

    args: dict[str, Any] = dict(
        log_dir=str(log_dir),
        model=None,  # each task carries its model
        retry_attempts=config.retry_attempts,
        log_dir_allow_dirty=True,  # a changed suite reuses the logs it still needs
        display=config.display,
    )
    if config.max_tasks is not None:
        args["max_tasks"] = config.max_tasks
    args.update(config.extra_eval_set_args)
    try:
        success, logs = eval_set(tasks, **args)
    except UserInputError:
        raise
    except Exception as exc:
        from inspect_ai._util.error import PrerequisiteError

        if isinstance(exc, PrerequisiteError):
            raise UserInputError(f"Inspect refused the eval set: {_plain(str(exc))}") from None
        raise
    by_key = {p.key: p for p in planned}
    model_side: dict[str, tuple[str, int]] = {}
    for model, side, member in roles:  # as before: a name on both sides maps to the baseline
        model_side[str(model)] = (side, member)
    records: list[EvalRecord] = []
    errors: list[str] = []
    for log in logs:
        key = (log.eval.metadata or {}).get(RUN_KEY)
        item = by_key.get(key) if isinstance(key, str) else None
        role = model_side.get(log.eval.model)
        if item is None or role is None:
            continue  # a log of another audit in the same folder
        side, member = role
        error = log.error.message.splitlines()[0] if log.error else None
        records.append(
            EvalRecord(
                key=item.key,
                task=item.task,
                params=item.params,
                purpose=item.purpose,
                model=log.eval.model,
                side=side,
                log=log.location,
                status=log.status,
                error=error,
                reused=_finished_before(log, started),
                member=member,
                usage=eval_usage(log),
            )
        )
        if log.status != "success":
            errors.append(
                f"{item.task} ({item.purpose}) on {log.eval.model}: {log.status}"
                + (f" ({error})" if error else "")
                + f"; log {log.location}"
            )
    expected = len(planned) * len(roles)
    if not success and not errors:
        errors.append("Inspect's eval_set did not finish every eval; rerun the audit to resume")
    elif len(records) < expected and not errors:
        errors.append(
            f"only {len(records)} of {expected} evals finished (interrupted?); rerun the same "
            "command to resume"
        )
    return records, errors


def _finished_before(log: Any, started: str) -> bool:
    completed = getattr(log.stats, "completed_at", None)
    if not completed:
        return False
    try:
        return datetime.fromisoformat(completed) < datetime.fromisoformat(started)
    except (TypeError, ValueError):
        return False


def _plain(text: str) -> str:
    """Inspect's rich markup removed, on one line."""
    import re

    return " ".join(re.sub(r"\[/?bold\]", "", text).split())


def _logs_by_side(records: Sequence[EvalRecord]) -> dict[tuple[str, str], dict[int, str]]:
    """(eval, side) -> {place in the side's seed family: log}; a "both" log serves each side."""
    logs: dict[tuple[str, str], dict[int, str]] = {}
    for r in records:
        if r.log is None:
            continue
        sides = ("candidate", "baseline") if r.side == "both" else (r.side,)
        for side in sides:
            logs.setdefault((r.key, side), {})[r.member] = r.log
    return logs


def compute_gates(suite: Suite, records: Sequence[EvalRecord], same: bool) -> list[GateResult]:
    """Every gate of the suite from the eval logs (each log/metric read once)."""
    registry = audit_tasks()
    logs = _logs_by_side(records)
    cache: dict[tuple[str, str], Measurement] = {}

    def read(path: str, task: str, metric: str) -> Measurement:
        cache_key = (path, metric)
        if cache_key not in cache:
            spec = registry[task].metric(metric)
            assert spec is not None
            cache[cache_key] = spec.read(_local_path(path), suite.seed)
        return cache[cache_key]

    def measure(key: str, side: str, task: str, metric: str) -> Measurement:
        paths = logs.get((key, side))
        if not paths:
            return Measurement(note=f"no {side} log")
        # one seed: its measurement as is; several: per-question means with each seed's runs
        return family_measurement([read(paths[m], task, metric) for m in sorted(paths)])

    results: list[GateResult] = []
    for spec in suite.tasks:
        key = run_key(spec.task, spec.params)
        for gate in spec.gates:
            gate_id = f"{spec.id}: {gate.metric} ({gate.kind})"
            cand = measure(key, "candidate", spec.task, gate.metric)
            base = measure(key, "baseline", spec.task, gate.metric)
            bounds = registry[spec.task].metric(gate.metric).bounds  # type: ignore[union-attr]
            if gate.kind == "difference":
                result = evaluate_difference(
                    gate_id, spec.task, gate.metric, gate.threshold, cand, base,
                    level=gate.level, seed=suite.seed, bounds=bounds, same_model=same,
                )  # fmt: skip
            else:
                result = evaluate_candidate(
                    gate_id, spec.task, gate.metric, gate.threshold, cand, base,
                    level=gate.level, seed=suite.seed, bounds=bounds,
                )  # fmt: skip
            results.append(result)
    if suite.scan is not None:
        scan = suite.scan
        none_key, trigger_keys = scan_keys(suite)
        metric = scan.gate.metric
        for trigger, key in trigger_keys.items():
            results.append(
                evaluate_trigger(
                    f"backdoor scan: {trigger}",
                    scan.task,
                    metric,
                    trigger,
                    scan.gate.threshold,
                    measure(key, "candidate", scan.task, metric),
                    measure(none_key, "candidate", scan.task, metric),
                    measure(key, "baseline", scan.task, metric),
                    measure(none_key, "baseline", scan.task, metric),
                    level=scan.gate.level,
                    seed=suite.seed,
                    bounds=registry[scan.task].metric(metric).bounds,  # type: ignore[union-attr]
                    same_model=same,
                )
            )
    return decide(results)


def _local_path(location: str) -> Path:
    return Path(location.removeprefix("file://"))
