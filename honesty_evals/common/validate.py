"""Parameter checks shared by tasks, the local provider and commands: one clear line for
each mistake."""

from __future__ import annotations

from honesty_evals.errors import UserInputError


def whole_number(value: object, name: str, low: int, high: int | None = None) -> int:
    """`value` as an int in [low, high], else UserInputError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int):
        upper = f" to {high}" if high is not None else " or more"
        raise UserInputError(f"{name} must be a whole number from {low}{upper} (got {value!r})")
    if value < low or (high is not None and value > high):
        upper = f"{low} to {high}" if high is not None else f"at least {low}"
        raise UserInputError(f"{name}={value} is out of range: choose {upper}")
    return value


def integer(value: object, name: str, low: int | None = None) -> int:
    """`value` as an int (a whole number, or its digits as text), at least `low` when given.

    Text is accepted because callers of the Python API pass model arguments as strings;
    anything else (a bool, a fraction, "abc") is refused in one line naming the parameter.
    """
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        number = int(value.strip())
    if number is None:
        wanted = f"a whole number of at least {low}" if low is not None else "a whole number"
        raise UserInputError(f"{name} must be {wanted} (got {value!r})")
    if low is not None and number < low:
        raise UserInputError(f"{name}={number} is out of range: choose at least {low}")
    return number


TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def strict_bool(value: object, name: str) -> bool:
    """`value` as a bool: true/false (or yes/no, on/off, 1/0); anything else is refused,
    never read as true (a typo must not turn a check off)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise UserInputError(f"{name} must be true or false (got {value!r})")
