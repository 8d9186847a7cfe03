"""Parameter checks shared by tasks: one clear line for each mistake."""

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
