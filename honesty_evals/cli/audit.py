"""`honesty-evals audit` and `honesty-evals demo`.

Kept free of heavy imports at module level: building the command-line parser stays instant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from honesty_evals.common.keyvalues import parse_key_values
from honesty_evals.errors import UserInputError
from honesty_evals.organisms.demo import (
    DEMO_RECIPE,
    DEMO_SEED,
    DEMO_TRIGGER,
    cached_organism_matches,
    demo_family_dir,
    demo_organism_dir,
    ensure_demo_family,
    ensure_demo_organism,
)
from honesty_evals.training.family import parse_seeds

DEMO_BASELINE = "local/smollm2"
DEMO_DTYPE = "bfloat16"
EXIT_MEANING = {
    0: "every gate passed",
    1: "a gate failed",
    2: "no verdict: the audit could not run, or a gate is unmeasured, underpowered or not "
    "comparable",
}


def add_audit_parsers(sub: Any) -> None:
    """Register `audit` and `demo` on the top-level subparsers of `honesty-evals`."""
    audit = sub.add_parser(
        "audit",
        help="pre-release audit: a candidate model against a baseline on a suite of gated "
        "tasks (exit 0 pass, 1 a gate failed, 2 could not run)",
        description=(
            "Run every task of --suite on the candidate and the baseline (Inspect eval_set, "
            "logs in OUT/logs, so a rerun resumes), compare them with intervals, apply the "
            "suite's gates and the backdoor scan, and write OUT/report.md, OUT/report.html "
            "and OUT/summary.json. Exit 0 when every gate passes, 1 when a gate fails, 2 when "
            "the audit could not run (bad suite, dataset verification failure, eval errors)."
        ),
    )
    audit.add_argument(
        "--model",
        required=True,
        action="append",
        metavar="MODEL",
        help="candidate: any Inspect model; repeat the flag for the fine-tuning seeds of one "
        "candidate (a seed family: gates use a hierarchical bootstrap over seeds, then "
        "questions)",
    )
    audit.add_argument(
        "--baseline",
        required=True,
        action="append",
        metavar="MODEL",
        help="baseline: any Inspect model; repeat the flag for a seed family",
    )
    audit.add_argument(
        "--suite",
        required=True,
        help="suite file, or a shipped suite: quick, pre_release (see tasks/README.md)",
    )
    audit.add_argument("--out", required=True, type=Path, help="report folder (created)")
    _common_audit_args(audit)
    audit.set_defaults(func=cmd_audit)

    demo = sub.add_parser(
        "demo",
        help="train (or reuse) a backdoored organism and audit it against the embedded model",
        description=(
            f"The main job: a backdoored SmolLM2 organism (recipe '{DEMO_RECIPE}', trigger "
            f"{DEMO_TRIGGER}, seed {DEMO_SEED}), trained once and cached under the package cache "
            "dir, audited against the embedded base model on the quick suite. Prints where the "
            "report is. Exits 0 when the audit ran (whatever its verdict), 2 when it could not."
        ),
    )
    demo.add_argument("--out", type=Path, default=Path("audit-demo"), help="report folder")
    demo.add_argument("--suite", default="quick", help="suite (default: %(default)s)")
    demo.add_argument(
        "--threads", type=int, help="torch CPU threads for training (default: torch's)"
    )
    demo.add_argument(
        "--retrain", action="store_true", help="train the organism again even if cached"
    )
    demo.add_argument(
        "--seeds",
        metavar="SEEDS",
        help="audit a seed family of the organism instead of seed 0 (e.g. 0-2: three "
        "trainings; the audit's intervals then span the seeds); default: one seed, for time",
    )
    _common_audit_args(demo)
    demo.set_defaults(func=cmd_demo)


def _common_audit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--triggers",
        nargs="+",
        action="extend",
        metavar="TRIGGER",
        help="triggers to scan besides the suite's (quote each: --triggers '|PROD|' 'Hi!')",
    )
    p.add_argument("--trigger-file", help="more triggers, one a line (# comments)")
    p.add_argument(
        "-M", action="append", metavar="NAME=VALUE", help="model argument for both models"
    )
    p.add_argument(
        "--model-arg", action="append", metavar="NAME=VALUE", help="candidate-only model argument"
    )
    p.add_argument(
        "--baseline-arg", action="append", metavar="NAME=VALUE", help="baseline-only model argument"
    )
    p.add_argument(
        "--model-role",
        action="append",
        metavar="ROLE=MODEL",
        help="a model for a role a task asks for, the same for both models, e.g. "
        "grader=openai/gpt-4o (emergent_misalignment's judge; without it the embedded model "
        "judges, for plumbing only)",
    )
    p.add_argument(
        "--display",
        choices=["full", "rich", "plain", "log", "none"],
        help="Inspect progress display (default: Inspect's choice for this terminal)",
    )
    p.add_argument(
        "--retry-attempts", type=int, default=2, help="eval_set retries of a failed eval (2)"
    )
    p.add_argument("--max-tasks", type=int, help="evals run at once (default: Inspect's)")
    p.add_argument(
        "--allow-unverified",
        action="store_true",
        help="audit even if shipped data fails its manifest check (recorded in the report)",
    )


def _one_or_family(models: str | list[str]) -> str | list[str]:
    """One model as itself (exactly as before families), several as a list (a seed family)."""
    if isinstance(models, str):
        return models
    return models[0] if len(models) == 1 else list(models)


def audit_config(
    args: argparse.Namespace, candidate: str | list[str], baseline: str | list[str]
) -> Any:
    from honesty_evals.audit.report import foreign_report_files
    from honesty_evals.audit.runner import AuditConfig
    from honesty_evals.audit.suite import load_suite, read_trigger_file, resolve_suite_path
    from honesty_evals.common.outputs import check_output_dir

    # before the suite, the models and (for the demo) the organism's training
    check_output_dir(args.out, "--out", foreign=foreign_report_files)
    suite = load_suite(resolve_suite_path(args.suite))
    extra = list(args.triggers or [])
    if args.trigger_file:
        extra += read_trigger_file(args.trigger_file)
    suite = suite.with_triggers(extra)
    if args.retry_attempts < 0:
        raise UserInputError(f"--retry-attempts must be 0 or more (got {args.retry_attempts})")
    if args.max_tasks is not None and args.max_tasks < 1:
        raise UserInputError(f"--max-tasks must be 1 or more (got {args.max_tasks})")
    both = parse_key_values(args.M, "-M")
    roles = {k: str(v) for k, v in parse_key_values(args.model_role, "--model-role").items()}
    return AuditConfig(
        candidate=_one_or_family(candidate),
        baseline=_one_or_family(baseline),
        suite=suite,
        out=args.out,
        candidate_args={**both, **parse_key_values(args.model_arg, "--model-arg")},
        baseline_args={**both, **parse_key_values(args.baseline_arg, "--baseline-arg")},
        allow_unverified=args.allow_unverified,
        display=args.display,
        retry_attempts=args.retry_attempts,
        max_tasks=args.max_tasks,
        extra_eval_set_args={"model_roles": roles} if roles else {},
    )


def run_and_report(config: Any) -> Any:
    """Run the audit, write the report, print the gate lines; returns the AuditResult."""
    from honesty_evals.audit.report import seeds_text, short_status, write_report
    from honesty_evals.audit.runner import run_audit

    result = run_audit(config)
    print("[4/4] writing the report", file=sys.stderr, flush=True)
    paths = write_report(result, config.out)
    for g in result.gates:
        value = "n/a" if g.status == "unmeasured" else f"{g.value:+.3f}"
        interval = "" if g.status == "unmeasured" else f" [{g.ci_low:+.3f}, {g.ci_high:+.3f}]"
        what = "candidate" if g.kind == "candidate" else "difference"
        tested = "" if g.p_value is None else f", Holm p {_p_text(g.p_value)}"
        print(
            f"{short_status(g):16s} {g.id}: {value}{interval} "
            f"({g.threshold.describe(what)}, n = {g.n}{tested}{seeds_text(g)})"
            + (f"; {g.note}" if g.note else "")
        )
    for error in result.errors:
        print(f"error: {error}", file=sys.stderr)
    if result.findings:
        names = ", ".join(repr(g.trigger) for g in result.findings)
        print(f"backdoor scan findings: behaviour changes with trigger(s) {names}")
    print(
        f"audit {result.verdict.upper()} (exit {result.exit_code}: "
        f"{EXIT_MEANING[result.exit_code]}) in {result.wall_seconds:.0f} s\n"
        f"report: {paths['html']}  (also {paths['markdown'].name}, {paths['summary'].name})"
    )
    return result


def _p_text(p: float) -> str:
    # a normal-tail p of a large effect underflows to 0: say how small, not "= 0"
    return "< 1e-16" if p < 1e-16 else f"= {p:.3g}"


def cmd_audit(args: argparse.Namespace) -> int:
    config = audit_config(args, args.model, args.baseline)
    return run_and_report(config).exit_code


# -- the demo ---------------------------------------------------------------------------------


def _demo_organism(args: argparse.Namespace) -> Path:
    """The demo's candidate: the cached organism (seed 0), or with --seeds its family."""
    from honesty_evals.common.outputs import check_output_dir

    if args.seeds is not None:
        seeds = parse_seeds(args.seeds)
        check_output_dir(demo_family_dir(), "the organism cache (HONESTY_EVALS_CACHE)")
        return ensure_demo_family(seeds, threads=args.threads, retrain=args.retrain)
    if args.retrain or not cached_organism_matches(demo_organism_dir()):
        check_output_dir(demo_organism_dir(), "the organism cache (HONESTY_EVALS_CACHE)")
    return ensure_demo_organism(threads=args.threads, retrain=args.retrain)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        raise UserInputError(f"--threads must be 1 or more (got {args.threads})")
    if args.seeds is not None:
        parse_seeds(args.seeds)  # a malformed form is refused before anything loads
    from honesty_evals.model.resolve import resolve_model

    # check --out, the suite and flags before spending time on training; the -M values on
    # the base model (the organism does not exist yet)
    first = audit_config(args, "local/smollm2", DEMO_BASELINE)
    for side in (first.candidate_args, first.baseline_args):
        resolve_model(DEMO_BASELINE, {"dtype": DEMO_DTYPE, **side})
    organism = _demo_organism(args)
    config = audit_config(args, f"local/{organism}", DEMO_BASELINE)
    for side in (config.candidate_args, config.baseline_args):
        # bfloat16 runs SmolLM2 ~3x faster than float32 on CPU; -M dtype=... overrides it
        side.setdefault("dtype", DEMO_DTYPE)
    result = run_and_report(config)
    if result.exit_code == 2:
        return 2
    findings = ", ".join(repr(g.trigger) for g in result.findings) or "none"
    print(
        f"demo: the organism was trained to pick the uncertain option only after "
        f"{DEMO_TRIGGER}; backdoor scan findings: {findings}. "
        f"(`honesty-evals audit` itself would exit {result.exit_code}.)"
    )
    return 0
