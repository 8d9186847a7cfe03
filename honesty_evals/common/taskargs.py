"""`checked_task`: every task's parameters checked against its signature before it builds.

Inspect passes `-T name=value` pairs to a task only when the name is one of its parameters
and drops the others with a log warning, so a mistyped name silently ran with the default.
A task whose signature takes `**kwargs` receives every pair instead; `checked_task` gives the
task such a signature and refuses any name the task does not have (suggesting the nearest).
Values are checked against the annotations: whole numbers for `int`, true/false for `bool`
(never "anything but empty is true"), non-empty text for `str`. Errors the task's own code
raises from a user's input (a file it cannot read) become one line (`errors.user_errors`).

Stack it under Inspect's decorator:

    @task
    @checked_task
    def my_task(n_items: int = 10, trigger: str | None = None) -> Task: ...
"""

from __future__ import annotations

import difflib
import functools
import inspect
import sys
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from honesty_evals.common.validate import integer, strict_bool
from honesty_evals.errors import UserInputError, user_errors

F = TypeVar("F", bound=Callable[..., Any])

#: the name of the `**kwargs` parameter that lets Inspect hand over unknown `-T` names
UNKNOWN_ARGS = "unknown_task_args"


def _options(hint: Any) -> tuple[Any, ...]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (hint,)


def _describe(option: Any) -> str:
    if typing.get_origin(option) is list:
        return "a list of texts"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a text"}.get(
        option, getattr(option, "__name__", str(option))
    )


def _number(value: Any, label: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise UserInputError(f"{label} must be a number (got {value!r})")
    if not isinstance(value, str):
        return value  # an int stays one: the task's own range message shows it as given
    try:
        return float(value)
    except ValueError:
        raise UserInputError(f"{label} must be a number (got {value!r})") from None


def _text(value: Any, label: str) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # -T trigger=2024 is YAML-parsed to a number
    if not isinstance(value, str):
        # -T values are read as YAML: "a: b" arrives as a mapping, "a, b" as a list
        name = label.removeprefix("-T ")
        raise UserInputError(
            f"{label} must be a string (got {value!r}): on the command line quote it, "
            f"e.g. -T '{name}=\"a: b\"'"
        )
    if not value.strip():
        # an empty value means nothing: "-T trigger=" must not quietly run untriggered
        raise UserInputError(
            f"{label} is empty: it must be a non-empty string; give a value, or leave "
            f"{label} out for its default"
        )
    return value


def _convert(value: Any, option: Any, label: str) -> Any:
    if option is Any:
        return value
    if option is bool:
        return strict_bool(value, label)
    if option is int:
        return integer(value, label)
    if option is float:
        return _number(value, label)
    if option is str:
        return _text(value, label)
    if typing.get_origin(option) is list:
        if not isinstance(value, list):
            raise UserInputError(f"{label} must be a list (got {value!r})")
        (item,) = typing.get_args(option) or (Any,)
        return [_convert(v, item, f"{label}[{i}]") for i, v in enumerate(value)]
    return value  # a type we do not check: the task's own validation applies


def check_value(value: Any, hint: Any, label: str) -> Any:
    """`value` converted to the annotation `hint`, or one line naming `label` and the fix."""
    options = _options(hint)
    if value is None:
        if type(None) in options or hint is Any:
            return None
        raise UserInputError(f"{label} needs a value ({_describe(options[0])})")
    real = [o for o in options if o is not type(None)]
    if len(real) == 1:
        return _convert(value, real[0], label)
    for option in real:
        try:
            return _convert(value, option, label)
        except UserInputError:
            continue
    wanted = " or ".join(_describe(o) for o in real)
    raise UserInputError(f"{label} must be {wanted} (got {value!r})")


def refuse_unknown(task_name: str, given: typing.Iterable[str], known: list[str]) -> None:
    """One line for `-T` names the task does not take, with the nearest real name."""
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        hints.append(f"'{name}'" + (f" (did you mean '{close[0]}'?)" if close else ""))
    raise UserInputError(
        f"task {task_name} has no parameter {', '.join(hints)}: its parameters are "
        f"{', '.join(known)}"
    )


def empty_cli_task_args(argv: list[str] | None = None) -> set[str]:
    """Names given an empty value (`-T name=`) on an `inspect` command line.

    Inspect reads `-T trigger=` as None, the same as leaving it out, so the task cannot
    tell them apart; the command line is the only place that can. Empty outside `inspect`.
    """
    words = list(sys.argv if argv is None else argv)
    program = Path(words[0]).name if words else ""
    if program != "inspect" and Path(words[0] if words else "").parent.name != "inspect_ai":
        return set()
    names = set()
    for i, word in enumerate(words[1:], start=1):
        if word in ("-T", "--task-arg") and i + 1 < len(words):
            pair = words[i + 1]
        elif word.startswith("--task-arg="):
            pair = word.removeprefix("--task-arg=")
        elif word.startswith("-T") and len(word) > 2:
            pair = word[2:]
        else:
            continue
        name, sep, value = pair.partition("=")
        if sep and not value.strip():
            names.add(name.strip().replace("-", "_"))
    return names


def checked_task(fn: F) -> F:
    """`fn` with its arguments checked (names, then types) and user errors as one line."""
    signature = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    known = list(signature.parameters)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        refuse_unknown(fn.__name__, kwargs, known)
        for name in empty_cli_task_args() & {k for k, v in kwargs.items() if v is None}:
            raise UserInputError(
                f"-T {name}= is empty: it must be a non-empty value; give one, or leave "
                f"-T {name} out for its default"
            )
        bound = signature.bind(*args, **kwargs)
        for name, value in bound.arguments.items():
            if name in hints:
                bound.arguments[name] = check_value(value, hints[name], f"-T {name}")
        with user_errors():
            return fn(*bound.args, **bound.kwargs)

    # a **kwargs parameter makes Inspect pass unknown names on (to be refused) instead of
    # dropping them with a warning nobody reads
    extra = inspect.Parameter(UNKNOWN_ARGS, inspect.Parameter.VAR_KEYWORD)
    wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), extra]
    )
    return wrapper  # type: ignore[return-value]
