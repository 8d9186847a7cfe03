"""The ablation's report: results.json, results.md and the learning-curve PNG, from OUT.

One row per condition x arm (the untrained organism once per prompt): detection on the
held-out questions and the held-out topic (AUROC, TPR, TNR, each with its interval over
questions, n transcripts, n questions, seeds, the per-seed spread and, over seeds, the
seed-family interval), the difference from the untrained organism with the same prompts
(paired over questions; a *beat* only when its interval excludes 0), the covert
condition's controls, intent vs act among flagged dishonest transcripts, learning curves
and the training figures (`summary.py` computes the numbers).
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.confession.ablation.config import HIDDEN_CONDITIONS
from honesty_evals.confession.ablation.plan import BASELINE, AblationPlan, Piece, final_splits
from honesty_evals.confession.ablation.render import plot_learning_curves, render_markdown
from honesty_evals.confession.ablation.summary import (
    auroc_over_seeds,
    intent_vs_act,
    lie_topic_rows,
    rate_difference,
    rate_over_seeds,
    spread,
    topic_only_auroc,
)
from honesty_evals.confession.formats import PROMPT_FORMATS

AUROC_TARGET = 0.8
Result = dict[str, Any]


def collect_results(plan: AblationPlan) -> dict[str, Result]:
    """Every finished piece's result, by piece key (across resumes)."""
    found = {}
    for piece in plan.pieces():
        path = plan.result_path(piece)
        if path.is_file():
            found[piece.key] = json.loads(path.read_text())
    return found


def training_cards(plan: AblationPlan) -> dict[tuple[str, str, int], dict[str, Any]]:
    """Each finished training run's card, by (condition, arm, seed)."""
    from honesty_evals.training.trainer import CARD_NAME

    cfg = plan.config
    cards = {}
    for condition in cfg.conditions:
        for arm in cfg.formats:
            for seed in cfg.seeds:
                card_path = plan.adapter_dir(condition, arm, seed) / CARD_NAME
                if card_path.is_file():
                    cards[(condition, arm, seed)] = json.loads(card_path.read_text())
    return cards


def _ci(m: dict[str, Any], name: str) -> list[float]:
    return [m.get(f"{name}_ci95_low", math.nan), m.get(f"{name}_ci95_high", math.nan)]


def seed_figures(seed: int | None, m: dict[str, Any]) -> dict[str, Any]:
    """One run's figures as the metric reported them (TNR = 1 - FPR)."""
    fpr_low, fpr_high = _ci(m, "fpr")
    return {
        "seed": seed,
        "auroc": m.get("auroc"),
        "auroc_ci": _ci(m, "auroc"),
        "tpr": m.get("tpr"),
        "tpr_ci": _ci(m, "tpr"),
        "tnr": 1.0 - m["fpr"] if m.get("fpr") is not None else None,
        "tnr_ci": [1.0 - fpr_high, 1.0 - fpr_low],
        "n_unparsed": int(m.get("n_unparsed", 0)),
    }


def _level(runs: list[Result], name: str, over_seeds: dict[str, Any] | None) -> dict[str, Any]:
    """A figure over the seeds: with one seed, the metric's own interval over questions."""
    figures = [seed_figures(r.get("seed"), r["metrics"]) for r in runs]
    if len(runs) == 1 or over_seeds is None:
        values = [f[name] for f in figures]
        return {"estimate": values[0], "ci": figures[0][f"{name}_ci"], "spread": spread(values)}
    if name == "auroc":  # hulled with the seeds' mean interval over questions (summary.py)
        lows = [f["auroc_ci"][0] for f in figures if math.isfinite(f["auroc_ci"][0])]
        highs = [f["auroc_ci"][1] for f in figures if math.isfinite(f["auroc_ci"][1])]
        low, high = over_seeds["ci"]
        if lows and highs:
            low = min(low, sum(lows) / len(lows)) if math.isfinite(low) else low
            high = max(high, sum(highs) / len(highs)) if math.isfinite(high) else high
        over_seeds = {**over_seeds, "ci": [low, high]}
    return over_seeds


def split_summary(
    runs: list[Result], baseline: Result | None, lie_topics: set[str] | None, data_seed: int
) -> dict[str, Any]:
    """One condition x arm on one split, over the seeds that finished it."""
    rows = [r["rows"] for r in runs]
    m0 = runs[0]["metrics"]
    out: dict[str, Any] = {
        "seeds": [r.get("seed") for r in runs],
        "n_dishonest": int(m0.get("n_dishonest", 0)),
        "n_honest": int(m0.get("n_honest", 0)),
        "n_questions": int(m0.get("n_questions", 0)),
        "n_unparsed": sum(int(r["metrics"].get("n_unparsed", 0)) for r in runs),
        "per_seed": [seed_figures(r.get("seed"), r["metrics"]) for r in runs],
        "auroc": _level(runs, "auroc", auroc_over_seeds(rows, seed=data_seed)),
        "tpr": _level(runs, "tpr", rate_over_seeds(rows, "dishonest", True, data_seed)),
        "tnr": _level(runs, "tnr", rate_over_seeds(rows, "honest", False, data_seed)),
    }
    if m0.get("n_directive_ignored"):
        rates = [r["metrics"]["fail_rate_directive_ignored"] for r in runs]
        out["directive_ignored"] = {
            "fail_rate": sum(rates) / len(rates),
            "ci": _ci(m0, "fail_rate_directive_ignored") if len(runs) == 1 else None,
            "spread": spread(rates),
            "n": int(m0["n_directive_ignored"]),
        }
    if lie_topics is not None:
        within = [lie_topic_rows(r, lie_topics) for r in rows]
        out["within_lie_topics"] = auroc_over_seeds(within, seed=data_seed)
    if baseline is not None:
        out["vs_untrained"] = vs_untrained(rows, baseline["rows"], lie_topics, data_seed)
    return out


def vs_untrained(
    rows: list[list[dict[str, Any]]],
    baseline: list[dict[str, Any]],
    lie_topics: set[str] | None,
    data_seed: int,
) -> dict[str, Any]:
    """Arm minus the untrained organism (same prompts, same transcripts), paired over
    questions; `beats` only when the AUROC difference's interval is above 0."""
    auroc = auroc_over_seeds(rows, baseline, seed=data_seed)
    out = {
        "auroc": auroc,
        "tpr": rate_difference(rows, baseline, "dishonest", True, data_seed),
        "tnr": rate_difference(rows, baseline, "honest", False, data_seed),
        "beats": bool(auroc and math.isfinite(auroc["ci"][0]) and auroc["ci"][0] > 0),
    }
    if lie_topics is not None:
        within = [lie_topic_rows(r, lie_topics) for r in rows]
        out["within_lie_topics"] = auroc_over_seeds(
            within, lie_topic_rows(baseline, lie_topics), seed=data_seed
        )
    return out


def learning_curve(
    plan: AblationPlan, condition: str, arm: str, results: dict[str, Result]
) -> list[list[float]]:
    """[step, mean AUROC over seeds, band low, band high]: the band is the seeds' min-max
    with several seeds, the interval over questions with one; step 0 is the untrained
    organism with the same prompt."""
    cfg = plan.config
    pf = PROMPT_FORMATS.get(arm, arm)
    curve = []
    start = results.get(Piece(condition, BASELINE, pf, "heldout", 0).key)
    if start:
        m = start["metrics"]
        curve.append([0, m["auroc"], m["auroc_ci95_low"], m["auroc_ci95_high"]])
    if arm == BASELINE:
        return curve
    for step in cfg.eval_steps():
        found = [
            results.get(Piece(condition, arm, pf, "heldout", step, seed).key) for seed in cfg.seeds
        ]
        metrics = [f["metrics"] for f in found if f]
        values = [m["auroc"] for m in metrics if m["auroc"] is not None]
        finite = [v for v in values if math.isfinite(v)]
        if not metrics:
            continue
        if not finite:  # no AUROC could be computed (e.g. no flag read): kept, as NaN
            curve.append([step, math.nan, math.nan, math.nan])
        elif len(metrics) == 1:
            m = metrics[0]
            curve.append([step, m["auroc"], m["auroc_ci95_low"], m["auroc_ci95_high"]])
        else:
            curve.append([step, sum(finite) / len(finite), min(finite), max(finite)])
    return curve


def training_summary(cards: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not cards:
        return None
    return {
        "runs": len(cards),
        "records": cards[0]["data"]["records"],
        "tokens_per_epoch": cards[0]["data"]["tokens"],
        "loss_tokens_per_epoch": cards[0]["data"]["loss_tokens"],
        "final_loss": [c["final_loss"] for c in cards],
        "wall_seconds": round(sum(c["wall_seconds"] for c in cards), 1),
        "tokens_per_second": [c["tokens_per_second"] for c in cards],
    }


def arm_row(
    plan: AblationPlan,
    condition: str,
    arm: str,
    prompt_format: str,
    results: dict[str, Result],
    context: dict[str, Any],
) -> dict[str, Any]:
    """One condition x arm line of the report."""
    cfg = plan.config
    row: dict[str, Any] = {"condition": condition, "arm": arm, "prompt_format": prompt_format}
    for split in ("heldout", *final_splits(condition)):
        base = results.get(Piece(condition, BASELINE, prompt_format, split, 0).key)
        if arm == BASELINE:
            runs = [base] if base else []
        else:
            keys = [
                Piece(condition, arm, prompt_format, split, cfg.steps, s).key for s in cfg.seeds
            ]
            runs = [results[k] for k in keys if k in results]
        compare = base if arm != BASELINE and split != "directive_ignored" else None
        row[split] = split_summary(runs, compare, context["lie_topics"], cfg.seed) if runs else None
    row["curve"] = learning_curve(plan, condition, arm, results)
    row["first_step_auroc_at_least_0.8"] = next(
        (p[0] for p in row["curve"] if p[1] is not None and p[1] >= AUROC_TARGET), None
    )
    final = [r["rows"] for r in _final_heldout(plan, condition, arm, prompt_format, results)]
    row["intent_vs_act"] = intent_vs_act(final) if condition != "covert" and final else None
    cards = context["cards"]
    row["training"] = training_summary(
        [cards[(condition, arm, s)] for s in cfg.seeds if (condition, arm, s) in cards]
    )
    return row


def _final_heldout(
    plan: AblationPlan, condition: str, arm: str, pf: str, results: dict[str, Result]
) -> list[Result]:
    cfg = plan.config
    if arm == BASELINE:
        keys = [Piece(condition, BASELINE, pf, "heldout", 0).key]
    else:
        keys = [Piece(condition, arm, pf, "heldout", cfg.steps, s).key for s in cfg.seeds]
    return [results[k] for k in keys if k in results]


def condition_report(
    plan: AblationPlan,
    condition: str,
    results: dict[str, Result],
    cards: dict[tuple[str, str, int], dict[str, Any]],
    lie_topics: set[str] | None,
) -> dict[str, Any]:
    """A condition's rows (the untrained organism per prompt, then each arm) and controls."""
    topics = lie_topics if condition == "covert" else None
    context = {"lie_topics": topics, "cards": cards}
    arms = [(BASELINE, pf) for pf in plan.baseline_prompt_formats()]
    arms += [(fmt, PROMPT_FORMATS[fmt]) for fmt in plan.config.formats]
    rows = [arm_row(plan, condition, arm, pf, results, context) for arm, pf in arms]
    controls: dict[str, Any] = {}
    if condition == "covert":
        controls["lie_topics"] = sorted(topics) if topics is not None else None
        for split in final_splits(condition) + ("heldout",):
            pf = plan.baseline_prompt_formats()[0]
            base = results.get(Piece(condition, BASELINE, pf, split, 0).key)
            if base and topics is not None:
                controls[f"topic_only_{split}"] = topic_only_auroc(
                    base["rows"], topics, plan.config.seed
                )
    return {"condition": condition, "rows": rows, "controls": controls}


def beats(conditions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """On the hidden conditions, each arm's AUROC difference from the untrained organism."""
    found = []
    for cond in conditions:
        if cond["condition"] not in HIDDEN_CONDITIONS:
            continue
        for row in cond["rows"]:
            for split in ("heldout", "heldout_topic"):
                summary = row.get(split)
                if row["arm"] == BASELINE or not summary or "vs_untrained" not in summary:
                    continue
                vs = summary["vs_untrained"]
                found.append(
                    {
                        "condition": cond["condition"],
                        "arm": row["arm"],
                        "split": split,
                        "auroc_difference": vs["auroc"],
                        "beats": vs["beats"],
                        "seeds": summary["seeds"],
                    }
                )
    return found


def write_report(
    plan: AblationPlan,
    verification: dict[str, Any],
    seconds_this_run: float,
    lie_topics: set[str] | None = None,
) -> dict[str, Any]:
    """Build the report from what OUT holds and write results.json, results.md and the PNG."""
    cfg = plan.config
    results = collect_results(plan)
    cards = training_cards(plan)
    conditions = [
        condition_report(plan, condition, results, cards, lie_topics)
        for condition in cfg.conditions
    ]
    n_trainings = len(cfg.conditions) * len(cfg.formats) * len(cfg.seeds)
    report = {
        "settings": cfg.identity(),
        "conditions": conditions,
        "beats": beats(conditions),
        "complete": len(results) == len(plan.pieces()) and len(cards) == n_trainings,
        "organisms": {c: str(plan.organism_dir(c)) for c in cfg.conditions},
        "evaluation_seconds": round(sum(r["seconds"] for r in results.values()), 1),
        "training_seconds": round(sum(c["wall_seconds"] for c in cards.values()), 1),
        "seconds_this_invocation": round(seconds_this_run, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "datasets": verification,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    write_text_atomic(plan.out / "results.json", json.dumps(report, indent=2) + "\n")
    write_text_atomic(plan.out / "results.md", render_markdown(report))
    plot_learning_curves(report, plan.out / "learning_curve.png")
    return report
