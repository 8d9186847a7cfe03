"""`honesty-evals compare`: the paired difference between logs of one task."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from honesty_evals.errors import UserInputError


def add_compare_parser(sub: Any) -> None:
    """Register `compare` on the top-level subparsers of `honesty-evals`."""
    compare = sub.add_parser(
        "compare",
        help="paired difference between logs of the same task (two logs, or each side's "
        "seed logs: LOG_A... --vs LOG_B...), with CI and p-value",
        usage="%(prog)s [-h] [--level LEVEL] [--seed SEED] LOG_A LOG_B\n"
        "       %(prog)s [-h] [--level LEVEL] [--seed SEED] LOG_A [LOG_A ...] "
        "--vs LOG_B [LOG_B ...]",
        description="Paired difference A - B over the questions both sides scored. With "
        "several logs per side (the fine-tuning seeds of one model: LOG_A... --vs LOG_B...) "
        "each side is averaged over its seeds and the interval is a hierarchical bootstrap "
        "over seeds, then questions; each seed's difference and the seed spread are printed. "
        "Exit 2 when the sides were scored by different methods (the difference is printed, "
        "marked NOT COMPARABLE).",
    )
    compare.add_argument(
        "logs", nargs="+", metavar="LOG", help="LOG_A LOG_B, or side A's logs before --vs"
    )
    compare.add_argument(
        "--vs", nargs="+", metavar="LOG_B", help="side B's logs (one per fine-tuning seed)"
    )
    compare.add_argument("--level", type=float, default=0.95, help="interval level (default 0.95)")
    compare.add_argument("--seed", type=int, default=0, help="bootstrap seed (seed families)")
    compare.set_defaults(func=cmd_compare)


def compare_sides(logs: Sequence[str], vs: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """`LOG_A LOG_B`, or `LOG_A... --vs LOG_B...` (the seeds of each side), as two sides."""
    if vs is None:
        if len(logs) != 2:
            raise UserInputError(
                f"compare takes two logs (LOG_A LOG_B), or each side's seed logs as "
                f"LOG_A... --vs LOG_B...; got {len(logs)} log(s) and no --vs"
            )
        return [logs[0]], [logs[1]]
    return list(logs), list(vs)


def cmd_compare(args: argparse.Namespace) -> int:
    from honesty_evals.compare import compare_families

    if not 0.5 <= args.level < 1.0:
        raise UserInputError(f"--level {args.level} is out of range: give e.g. 0.95")
    side_a, side_b = compare_sides(args.logs, args.vs)
    comparison = compare_families(side_a, side_b, level=args.level, seed=args.seed)
    print(comparison.render())
    # the difference is shown, but two different measurements are no comparison: the
    # status a script can test, as the audit's "no verdict"
    return 2 if comparison.not_comparable else 0
