"""How many follow-up questions the black-box lie detector needs (issue 19, point 4).

Reads lie_detection logs that asked all 48 follow-ups and scores the detector as the audit's
`detector_auroc` gate does (standardised logistic regression, grouped 5-fold out of fold,
AUROC with its 95% interval over questions), once per follow-up count: the first N of
`balanced_subset` (one of each kind in turn), which is exactly the feature set a run with
`-T n_followups=N` asks. Each follow-up is asked after the same conversation on its own, so a
subset of a 48-question log's features is what that smaller run would record.

    python benchmarks/bench_followups.py LOG.eval [LOG.eval ...] [--counts 6 12 18 24 36 48]

Prints one row per count: AUROC [95% CI], n questions, follow-up requests per sample; and
writes the table as JSON with --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from honesty_evals.lie_detection.dataset import load_followups
from honesty_evals.lie_detection.detector import LinearDetector, scored_out_of_fold
from honesty_evals.lie_detection.evaluation import evaluate_scores
from honesty_evals.lie_detection.features import load_feature_table
from honesty_evals.lie_detection.solver import balanced_subset

DEFAULT_COUNTS = (6, 12, 18, 24, 36, 48)


def score_subsets(paths: list[str], counts: list[int], seed: int = 0) -> list[dict]:
    table = load_feature_table(paths)
    followups = load_followups()
    column = {name: i for i, name in enumerate(table.feature_names)}
    missing = [f.id for f in followups if f.id not in column]
    if missing:
        raise SystemExit(
            f"the log asked {len(column)} follow-ups, not all 48 ({len(missing)} missing, e.g. "
            f"{missing[0]}): rerun lie_detection without -T n_followups"
        )
    rows = []
    for n in counts:
        keep = [column[f.id] for f in balanced_subset(followups, n)]
        labels, scores, groups = scored_out_of_fold(
            LinearDetector(seed=seed), table.X[:, keep], table.y, table.question_ids, seed
        )
        report = evaluate_scores(labels, scores, groups, seed=seed)
        rows.append(
            {
                "followups": n,
                "auroc": round(report.auroc, 4),
                "ci_low": round(report.auroc_ci[0], 4),
                "ci_high": round(report.auroc_ci[1], 4),
                "ci_width": round(report.auroc_ci[1] - report.auroc_ci[0], 4),
                "n_questions": report.n_questions,
                "lies": int(labels.sum()),
                "honest": int((1 - labels).sum()),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="lie_detection .eval logs with all 48 follow-ups")
    parser.add_argument("--counts", type=int, nargs="+", default=list(DEFAULT_COUNTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    rows = score_subsets(args.logs, args.counts, args.seed)
    print("| follow-ups | AUROC [95% CI] | CI width | questions | lies / honest |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(
            f"| {r['followups']} | {r['auroc']:.3f} [{r['ci_low']:.3f}, {r['ci_high']:.3f}] | "
            f"{r['ci_width']:.3f} | {r['n_questions']} | {r['lies']} / {r['honest']} |"
        )
    if args.out:
        args.out.write_text(json.dumps({"logs": args.logs, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
