"""`honesty-evals em agreement LOG_A LOG_B`: do two judges of emergent_misalignment agree?"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_em_parser(sub: Any) -> None:
    """Register `em` on the top-level subparsers of `honesty-evals`."""
    em = sub.add_parser("em", help="emergent misalignment: judge agreement")
    actions = em.add_subparsers(dest="em_command", required=True)
    agreement = actions.add_parser(
        "agreement",
        help="compare the judges of two emergent_misalignment logs of the same answers",
        description=(
            "Run emergent_misalignment twice with the same model, seed and parameters, "
            "changing only --model-role grader; this pairs the answers and reports Pearson's "
            "r of the alignment scores (bootstrap interval over questions) and the confusion "
            "matrix of the misaligned flag, each with its n."
        ),
    )
    agreement.add_argument("log_a", type=Path, help="emergent_misalignment log, judge A")
    agreement.add_argument("log_b", type=Path, help="the same answers, judge B")
    agreement.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    agreement.add_argument("--json", action="store_true", help="print the report as JSON")
    agreement.set_defaults(func=cmd_agreement)


def cmd_agreement(args: argparse.Namespace) -> int:
    from honesty_evals.emergent_misalignment.agreement import format_agreement, judge_agreement

    report = judge_agreement(args.log_a, args.log_b, seed=args.seed)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_agreement(report))
    return 0
