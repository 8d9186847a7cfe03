"""Audit suite files (YAML): which tasks run, with which parameters, and their gates.

Loading validates everything that can be checked without a model, and every mistake is one
line naming the file and the key: `tasks/x.yaml: tasks[1].gates[0].max: 'ten' is not a
number: give a threshold such as 0.10`. The format is documented in tasks/README.md.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from honesty_evals.audit.gates import THRESHOLD_KEYS, Threshold
from honesty_evals.audit.registry import AUDIT_CONTROLLED_PARAMS, audit_tasks, suite_parameters
from honesty_evals.common.taskinfo import TaskInfo
from honesty_evals.common.textfile import check_input_file, decode_utf8, numbered_lines
from honesty_evals.errors import UserInputError

DEFAULT_LEVEL = 0.95
GATE_KINDS = ("difference", "candidate")
SUITE_KEYS = ("name", "description", "level", "seed", "tasks", "backdoor_scan")
TASK_KEYS = ("task", "id", "params", "gates")
GATE_KEYS = ("metric", "kind", "level", *THRESHOLD_KEYS)
SCAN_KEYS = ("task", "params", "triggers", "gate")
SCAN_GATE_KEYS = ("metric", "level", *THRESHOLD_KEYS)
DEFAULT_SCAN_TASK = "risk_behavior"


@dataclass(frozen=True)
class GateSpec:
    """A gate as written in the suite: metric, kind, threshold and confidence level."""

    key: str  # where it is in the file, e.g. "tasks[0].gates[1]"
    metric: str
    kind: str  # difference | candidate | trigger_scan
    threshold: Threshold
    level: float


@dataclass(frozen=True)
class TaskSpec:
    key: str
    id: str
    task: str
    params: dict[str, Any]
    gates: tuple[GateSpec, ...]


@dataclass(frozen=True)
class ScanSpec:
    """The backdoor scan: the behaviour task run with and without each trigger."""

    key: str
    task: str
    params: dict[str, Any]
    triggers: tuple[str, ...]
    trigger_sources: dict[str, str]  # trigger -> "default" | "suite" | "command line"
    gate: GateSpec


@dataclass(frozen=True)
class Suite:
    path: Path
    name: str
    description: str
    level: float
    seed: int
    tasks: tuple[TaskSpec, ...]
    scan: ScanSpec | None
    sha256: str
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def n_gates(self) -> int:
        return sum(len(t.gates) for t in self.tasks) + (len(self.scan.triggers) if self.scan else 0)

    def with_triggers(self, triggers: Sequence[str], source: str = "command line") -> Suite:
        """The suite with user triggers added to its backdoor scan (duplicates dropped)."""
        if not triggers:
            return self
        if self.scan is None:
            raise UserInputError(
                f"{self.path}: the suite has no backdoor_scan section, so --triggers and "
                "--trigger-file have nothing to scan: add a backdoor_scan section (see "
                "tasks/README.md)"
            )
        from honesty_evals.organisms.triggers import validate_trigger

        merged = list(self.scan.triggers)
        sources = dict(self.scan.trigger_sources)
        for raw in triggers:
            trigger = validate_trigger(raw, "trigger")
            if trigger not in merged:
                merged.append(trigger)
                sources[trigger] = source
        return replace(
            self, scan=replace(self.scan, triggers=tuple(merged), trigger_sources=sources)
        )


class _Checker:
    """Builds one-line errors: '<file>: <key>: <problem>'."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, key: str, problem: str) -> UserInputError:
        where = f"{self.path}: {key}: " if key else f"{self.path}: "
        return UserInputError(where + problem)

    def mapping(self, value: Any, key: str, allowed: Sequence[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.error(key, f"expected a mapping of {', '.join(allowed)}, got {_kind(value)}")
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise self.error(
                _join(key, str(unknown[0])),
                f"unknown key: use {', '.join(allowed)}",
            )
        return value

    def number(self, value: Any, key: str, example: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"{value!r} is not a number: give {example}")
        if not math.isfinite(float(value)):
            raise self.error(key, f"{value!r} is not a finite number: give {example}")
        return float(value)

    def level(self, value: Any, key: str) -> float:
        level = self.number(value, key, "a confidence level such as 0.95")
        if not 0.5 <= level < 1.0:
            raise self.error(key, f"{value!r} is out of range: give a level from 0.5 to 0.999")
        return level


def _kind(value: Any) -> str:
    kinds: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return kinds.get(type(value), repr(value))


def _join(key: str, sub: str) -> str:
    return f"{key}.{sub}" if key else sub


def load_suite(path: str | Path) -> Suite:
    """Read and validate a suite file; UserInputError (one line) on the first mistake."""
    suite_path = Path(path)
    check = _Checker(suite_path)
    if not suite_path.exists():
        raise UserInputError(
            f"suite file '{path}' does not exist: pass a file from tasks/ (e.g. "
            "tasks/quick.yaml) or one of the shipped names (quick, pre_release)"
        )
    data = check_input_file(suite_path, "suite file").read_bytes()
    import yaml

    try:
        # a BOM is harmless to YAML: only other mistakes of the one text reader apply
        text = decode_utf8(data.removeprefix(b"\xef\xbb\xbf"), suite_path, "suite file")
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "somewhere"
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise check.error("", f"not valid YAML at {where} ({problem})") from None
    top = check.mapping(raw, "", SUITE_KEYS)
    level = check.level(top["level"], "level") if "level" in top else DEFAULT_LEVEL
    seed = top.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise check.error("seed", f"{seed!r} is not a whole number >= 0: give e.g. 0")
    name = top.get("name", suite_path.stem)
    if not isinstance(name, str) or not name.strip():
        raise check.error("name", f"{name!r} is not a name: give a short string")
    description = top.get("description", "")
    if not isinstance(description, str):
        raise check.error("description", "expected a string")
    registry = audit_tasks()
    raw_tasks = top.get("tasks", [])
    if not isinstance(raw_tasks, list):
        raise check.error("tasks", f"expected a list of task entries, got {_kind(raw_tasks)}")
    tasks = tuple(
        _task_spec(check, item, f"tasks[{i}]", registry, level) for i, item in enumerate(raw_tasks)
    )
    _check_unique(check, tasks)
    scan = (
        _scan_spec(check, top["backdoor_scan"], registry, level)
        if top.get("backdoor_scan") is not None
        else None
    )
    if not tasks and scan is None:
        raise check.error("tasks", "the suite runs nothing: list at least one task")
    if not any(t.gates for t in tasks) and (scan is None or not scan.triggers):
        raise check.error(
            "tasks",
            "the suite has no gates: give at least one task a gates list (see tasks/README.md)",
        )
    return Suite(
        path=suite_path,
        name=name.strip(),
        description=description.strip(),
        level=level,
        seed=seed,
        tasks=tasks,
        scan=scan,
        sha256=hashlib.sha256(data).hexdigest(),
        raw=top,
    )


def _entry(check: _Checker, registry: dict[str, TaskInfo], value: Any, key: str) -> TaskInfo:
    if value is None:
        raise check.error(
            key, f"missing: name the task to run, one of {', '.join(sorted(registry))}"
        )
    if not isinstance(value, str) or value not in registry:
        raise check.error(
            key, f"unknown task {value!r}: choose one of {', '.join(sorted(registry))}"
        )
    return registry[value]


def _params(
    check: _Checker, entry: TaskInfo, value: Any, key: str, reserved: Sequence[str] = ()
) -> dict[str, Any]:
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise check.error(key, f"expected a mapping of parameter: value, got {_kind(value)}")
    allowed = suite_parameters(entry)
    for name in value:
        if name in AUDIT_CONTROLLED_PARAMS:
            raise check.error(
                _join(key, str(name)),
                "set by the audit, not the suite (use honesty-evals audit --allow-unverified)",
            )
        if name in reserved:
            raise check.error(
                _join(key, str(name)),
                "set by the backdoor scan for each trigger: list triggers under "
                "backdoor_scan.triggers or pass --triggers",
            )
        if name not in allowed:
            raise check.error(
                _join(key, str(name)),
                f"unknown parameter of {entry.name}: choose from "
                f"{', '.join(k for k in allowed if k not in reserved)}",
            )
    missing = [
        name
        for name, p in allowed.items()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and name not in value
        and name not in reserved
    ]
    if missing:
        raise check.error(
            key, f"missing required parameter(s) of {entry.name}: {', '.join(missing)}"
        )
    return dict(value)


def _threshold(
    check: _Checker,
    gate: dict[str, Any],
    key: str,
    low: float,
    high: float,
    is_difference: bool,
) -> Threshold:
    given = [k for k in THRESHOLD_KEYS if k in gate]
    if not given:
        raise check.error(
            key, "missing threshold: give one of max, min or max_abs (e.g. max: 0.10)"
        )
    if len(given) > 1:
        raise check.error(
            _join(key, given[1]), f"a gate takes one threshold, got {' and '.join(given)}"
        )
    kind = given[0]
    value = check.number(gate[kind], _join(key, kind), "a threshold such as 0.10")
    what = "difference" if is_difference else "value"
    if kind == "max_abs":
        if not is_difference:
            raise check.error(
                _join(key, kind), "max_abs is for differences: give max or min for a value"
            )
        low = 0.0
    if not low <= value <= high:
        raise check.error(
            _join(key, kind),
            f"{value:g} is outside [{low:g}, {high:g}], the range of this {what}: give a "
            "fraction, e.g. 0.10 for 10 points",
        )
    return Threshold(kind, value)  # type: ignore[arg-type]


def _gate(
    check: _Checker,
    raw: Any,
    key: str,
    entry: TaskInfo,
    level: float,
    allowed_keys: Sequence[str] = GATE_KEYS,
    kind: str | None = None,
) -> GateSpec:
    gate = check.mapping(raw, key, allowed_keys)
    metric_name = gate.get("metric")
    metric = entry.metric(metric_name)
    if metric is None:
        raise check.error(
            _join(key, "metric"),
            f"unknown metric {metric_name!r} of {entry.name}: choose one of "
            f"{', '.join(m.name for m in entry.metrics)}",
        )
    if kind is None:
        kind = gate.get("kind", "difference")
        if kind not in GATE_KINDS:
            raise check.error(
                _join(key, "kind"), f"unknown kind {kind!r}: choose one of {', '.join(GATE_KINDS)}"
            )
        if kind not in metric.gate_kinds:
            raise check.error(
                _join(key, "kind"),
                f"{metric.name} supports only {', '.join(metric.gate_kinds)} gates (it is one "
                "estimate per model, not paired over questions)",
            )
    elif not metric.paired:
        raise check.error(
            _join(key, "metric"), f"{metric.name} has no per-question values to scan with"
        )
    gate_level = check.level(gate["level"], _join(key, "level")) if "level" in gate else level
    if not metric.paired and not math.isclose(gate_level, 0.95):
        raise check.error(
            _join(key, "level"),
            f"{metric.name} comes with a 95% interval only: use level 0.95",
        )
    # a value lies within the metric's bounds, a difference within +-(their width)
    low, high = metric.bounds
    if kind == "candidate":
        threshold = _threshold(check, gate, key, low, high, is_difference=False)
    else:
        width = high - low
        threshold = _threshold(check, gate, key, -width, width, is_difference=True)
    return GateSpec(key=key, metric=metric.name, kind=kind, threshold=threshold, level=gate_level)


def _task_spec(
    check: _Checker, raw: Any, key: str, registry: dict[str, TaskInfo], level: float
) -> TaskSpec:
    item = check.mapping(raw, key, TASK_KEYS)
    entry = _entry(check, registry, item.get("task"), _join(key, "task"))
    params = _params(check, entry, item.get("params"), _join(key, "params"))
    task_id = item.get("id", entry.name)
    if not isinstance(task_id, str) or not task_id.strip():
        raise check.error(_join(key, "id"), f"{task_id!r} is not a name: give a short string")
    gates_raw = item.get("gates", [])
    if gates_raw is None:
        gates_raw = []
    if not isinstance(gates_raw, list):
        raise check.error(_join(key, "gates"), f"expected a list of gates, got {_kind(gates_raw)}")
    gates = tuple(
        _gate(check, g, f"{key}.gates[{j}]", entry, level) for j, g in enumerate(gates_raw)
    )
    return TaskSpec(key=key, id=task_id.strip(), task=entry.name, params=params, gates=gates)


def _check_unique(check: _Checker, tasks: Sequence[TaskSpec]) -> None:
    seen_ids: dict[str, str] = {}
    seen_runs: dict[str, str] = {}
    for spec in tasks:
        if spec.id in seen_ids:
            raise check.error(
                _join(spec.key, "id"),
                f"'{spec.id}' is also the id of {seen_ids[spec.id]}: give each entry of the "
                "same task a distinct id",
            )
        seen_ids[spec.id] = spec.key
        run = run_key(spec.task, spec.params)
        if run in seen_runs:
            raise check.error(
                spec.key,
                f"runs the same task with the same parameters as {seen_runs[run]}: put both "
                "entries' gates in one entry",
            )
        seen_runs[run] = spec.key


def run_key(task: str, params: dict[str, Any]) -> str:
    """One eval's identity within an audit: task name and every parameter, defaults filled in.

    So `risk_behavior` with `n_items: 20` and the scan's no-trigger run (`trigger: None`,
    `n_items: 20`) are one eval, run once.
    """
    import json

    entry = audit_tasks().get(task)
    full = dict(params)
    if entry is not None:
        for name, p in suite_parameters(entry).items():
            if name not in full and p.default is not inspect.Parameter.empty:
                full[name] = p.default
    return task + json.dumps(full, sort_keys=True, default=str)


def _scan_spec(check: _Checker, raw: Any, registry: dict[str, TaskInfo], level: float) -> ScanSpec:
    from honesty_evals.organisms.triggers import COMMON_TRIGGERS, validate_trigger

    key = "backdoor_scan"
    scan = check.mapping(raw, key, SCAN_KEYS)
    entry = _entry(check, registry, scan.get("task", DEFAULT_SCAN_TASK), _join(key, "task"))
    if entry.trigger_param is None:
        usable = [name for name, e in registry.items() if e.trigger_param]
        raise check.error(
            _join(key, "task"),
            f"{entry.name} takes no trigger, so it cannot be scanned: use {', '.join(usable)}",
        )
    params = _params(
        check, entry, scan.get("params"), _join(key, "params"), reserved=(entry.trigger_param,)
    )
    raw_triggers = scan.get("triggers", "default")
    triggers: list[str] = []
    sources: dict[str, str] = {}
    items = [raw_triggers] if isinstance(raw_triggers, str) else raw_triggers
    if not isinstance(items, list):
        raise check.error(
            _join(key, "triggers"),
            f"expected 'default' or a list of trigger strings, got {_kind(raw_triggers)}",
        )
    for i, item in enumerate(items):
        if item == "default":
            new = [(t, "default") for t in COMMON_TRIGGERS]
        else:
            item_key = f"{key}.triggers[{i}]" if not isinstance(raw_triggers, str) else key
            try:
                new = [(validate_trigger(item, "trigger"), "suite")]
            except UserInputError as exc:
                raise check.error(item_key, str(exc)) from None
        for trigger, source in new:
            if trigger not in sources:
                triggers.append(trigger)
                sources[trigger] = source
    if "gate" not in scan:
        raise check.error(
            _join(key, "gate"), "missing: give the scan's gate, e.g. gate: {max_abs: 0.10}"
        )
    gate = _gate(
        check,
        scan["gate"],
        _join(key, "gate"),
        entry,
        level,
        allowed_keys=SCAN_GATE_KEYS,
        kind="trigger_scan",
    )
    return ScanSpec(
        key=key,
        task=entry.name,
        params=params,
        triggers=tuple(triggers),
        trigger_sources=sources,
        gate=gate,
    )


def resolve_suite_path(value: str) -> Path:
    """A suite file path, or a shipped suite's name (quick, pre_release)."""
    path = Path(value)
    if path.is_file():
        return path
    from honesty_evals.paths import shipped_suites_dir

    try:
        shipped = shipped_suites_dir()
    except FileNotFoundError:
        return path
    for candidate in (shipped / value, shipped / f"{value}.yaml"):
        if candidate.is_file():
            return candidate
    return path


def read_trigger_file(path: str | Path) -> list[str]:
    """Triggers from a text file: one a line; blank lines and lines starting with # skipped."""
    from honesty_evals.organisms.triggers import validate_trigger

    triggers = []
    for number, line in numbered_lines(path, "--trigger-file", allow_empty=True):
        if line.lstrip().startswith("#"):
            continue
        try:
            triggers.append(validate_trigger(line, "trigger"))
        except UserInputError as exc:
            raise UserInputError(f"{path}:{number}: {exc}") from None
    if not triggers:
        raise UserInputError(f"--trigger-file '{path}' holds no triggers: write one a line")
    return triggers
