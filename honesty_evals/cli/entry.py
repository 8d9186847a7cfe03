"""The entry point: the `honesty-evals` parser, and `main`, the error boundary every command
runs inside."""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence

from honesty_evals.cli.audit import add_audit_parsers
from honesty_evals.cli.compare import add_compare_parser
from honesty_evals.cli.confession import add_confession_parser
from honesty_evals.cli.datasets import add_datasets_parser
from honesty_evals.cli.em import add_em_parser
from honesty_evals.cli.faithfulness import add_faithfulness_parser, normalise_argv
from honesty_evals.cli.inoculation import add_inoculation_parser
from honesty_evals.cli.lie_detector import add_lie_detection_parsers
from honesty_evals.cli.model import add_model_parser
from honesty_evals.cli.organism import add_organism_parser
from honesty_evals.cli.run import add_run_parser
from honesty_evals.errors import (
    DEBUG_ENV,
    ReportableError,
    UserInputError,
    debug_enabled,
    describe_error,
)


def build_parser() -> argparse.ArgumentParser:
    """Every command's parser; builds without importing torch, transformers or scikit-learn."""
    parser = argparse.ArgumentParser(
        prog="honesty-evals",
        description="Audit language models for honesty and hidden behaviour (Inspect AI tasks).",
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"show the full traceback of an error (also: {DEBUG_ENV}=1); may be given "
        "anywhere on the command line",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    add_run_parser(sub)
    add_compare_parser(sub)
    add_model_parser(sub)
    add_organism_parser(sub)
    add_datasets_parser(sub)
    add_lie_detection_parsers(sub)
    add_audit_parsers(sub)
    add_faithfulness_parser(sub)
    add_confession_parser(sub)
    add_em_parser(sub)
    add_inoculation_parser(sub)
    return parser


def error_line(exc: BaseException) -> str | None:
    """The one line the command line prints for `exc`, or None for a bug (traceback)."""
    if isinstance(exc, ReportableError) and not isinstance(exc, UserInputError):
        from honesty_evals.model.resolve import plain_message

        return plain_message(exc)  # Inspect's own prerequisites carry rich markup
    return describe_error(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """The error boundary: a user's mistake is one line and exit 2, never a traceback (unless
    --debug or HONESTY_EVALS_DEBUG=1 asks for it); a bug still shows its traceback."""
    words = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in words:
        # anywhere on the line, and seen by the task and provider guards too
        words = [w for w in words if w != "--debug"]
        os.environ[DEBUG_ENV] = "1"
    parser = build_parser()
    args = parser.parse_args(normalise_argv(words))
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("honesty-evals: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        line = error_line(exc)
        if line is None:
            raise
        if debug_enabled():
            traceback.print_exc()
        print(f"honesty-evals: error: {line}", file=sys.stderr)
        return 2
