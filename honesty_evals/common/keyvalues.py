"""`NAME=VALUE` pairs as the command line takes them (`-T`, `-M`, `--model-arg`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from honesty_evals.errors import UserInputError


def parse_key_values(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    """`["n=3", "name=x"]` as `{"n": 3, "name": "x"}`: each value read as YAML, as Inspect's
    own `-T` does; an item without `=` or a name is refused in one line naming `flag`."""
    parsed: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserInputError(f"{flag} {item!r} is not of the form name=value")
        try:
            parsed[key.strip()] = yaml.safe_load(value) if value else ""
        except yaml.YAMLError as exc:  # e.g. a value starting with "|" or "%": quote it
            raise UserInputError(
                f"{flag} {item!r}: the value is not valid YAML "
                f"({str(exc).splitlines()[0]}); quote it: {flag} '{key}=\"{value}\"'"
            ) from None
    return parsed
