"""Registers the `local` model API with Inspect (imported by the entry point, kept light)."""

from inspect_ai.model import modelapi


@modelapi(name="local")
def local() -> type:
    # imported on first use so that `inspect` start-up does not pay for torch
    from honesty_evals.model.local_provider import LocalModelAPI

    return LocalModelAPI
