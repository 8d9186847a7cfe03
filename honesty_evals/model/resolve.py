"""An Inspect model from its name, with a user's mistake (unknown provider, missing SDK or
API key, bad `-M` value) as one line instead of Inspect's multi-line error."""

from __future__ import annotations

from typing import Any

from honesty_evals.errors import ReportableError, UserInputError


def plain_message(exc: BaseException) -> str:
    """An exception's message on one line, without Inspect's rich markup (`[bold]`)."""
    text = str(exc)
    try:
        from rich.text import Text

        text = Text.from_markup(text).plain
    except Exception:  # not markup after all (a stray "[" in a path): keep it as it is
        pass
    text = " ".join(part.strip() for part in text.splitlines() if part.strip())
    return text.removeprefix("ERROR: ")


def resolve_model(name: Any, args: dict[str, Any]) -> Any:
    """`get_model(name, **args)`, or UserInputError naming the model and the fix."""
    from inspect_ai.model import Model, get_model

    if isinstance(name, Model):
        return name
    try:
        return get_model(name, **args)
    except UserInputError:
        raise
    except ReportableError as exc:  # a missing SDK: Inspect says what to install
        raise UserInputError(f"cannot use model '{name}': {plain_message(exc)}") from None
    except Exception as exc:  # unknown provider, missing API key, ...
        raise UserInputError(
            f"cannot create model '{name}' ({plain_message(exc)}): give a model as "
            "provider/name, e.g. local/smollm2 or openai/gpt-4o-mini"
        ) from None
