"""`honesty-evals model convert|path`: the embedded SmolLM2 model."""

from __future__ import annotations

import argparse
import os
from typing import Any


def add_model_parser(sub: Any) -> None:
    """Register `model` on the top-level subparsers of `honesty-evals`."""
    model = sub.add_parser("model", help="the embedded SmolLM2 model")
    model.add_argument(
        "action", choices=["convert", "path"], help="convert it now, or print its cache path"
    )
    model.set_defaults(func=cmd_model)


def cmd_model(args: argparse.Namespace) -> int:
    from honesty_evals.model.embedded import (
        MODEL_CACHE_ENV,
        embedded_model_dir,
        ensure_embedded_model,
        is_converted,
    )

    if args.action == "convert":
        from honesty_evals.common.outputs import check_output_dir
        from honesty_evals.paths import CACHE_ENV

        target = embedded_model_dir()
        if not is_converted(target):  # writes only when not converted yet
            env = MODEL_CACHE_ENV if os.environ.get(MODEL_CACHE_ENV) else CACHE_ENV
            check_output_dir(target.parent, f"the model cache folder (set by {env})")
        print(ensure_embedded_model())
    else:
        print(embedded_model_dir())
    return 0
