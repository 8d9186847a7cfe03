"""The ablation's evaluations: one piece (an arm of a condition, at a step of one seed, on a
split) at a time; each keeps its metrics and its per-transcript rows (the report's paired
differences, controls and review texts are computed from them)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.confession.ablation.data import piece_dataset
from honesty_evals.confession.ablation.plan import AblationPlan, Piece
from honesty_evals.confession.transcripts import Transcript
from honesty_evals.errors import UserInputError


def metric_text(value: Any, digits: int = 3) -> str:
    """A metric for the progress lines and the report ("n/a" when there is none)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def sample_rows(log: Any) -> list[dict[str, Any]]:
    """Each scored transcript: id, question, topic, label, P(FAIL) (None when unparsed) and
    the review text."""
    rows = []
    for sample in log.samples or []:
        score = next(iter((sample.scores or {}).values()), None)
        meta = (score.metadata or {}) if score is not None else {}
        parsed = score is not None and bool(meta.get("parsed"))
        rows.append(
            {
                "id": str(sample.id),
                "question_id": meta.get("question_id", str(sample.id)),
                "topic": meta.get("topic"),
                "label": meta.get("label"),
                "p_fail": float(score.as_float()) if parsed and score is not None else None,
                "review": meta.get("review", ""),
            }
        )
    return rows


def evaluate_piece(
    plan: AblationPlan,
    piece: Piece,
    transcripts: list[Transcript],
    print_fn: Callable[[str], None],
) -> dict[str, Any]:
    """Evaluate one piece with Inspect and keep its metrics in OUT (read back when kept)."""
    path = plan.result_path(piece)
    if path.is_file():
        return json.loads(path.read_text())
    from inspect_ai import Task
    from inspect_ai import eval as inspect_eval

    from honesty_evals.confession.task import confession_scorer, confession_solver, detection
    from honesty_evals.model.local_provider import release_engines

    cfg = plan.config
    task = Task(
        dataset=piece_dataset(transcripts, piece, cfg),
        solver=confession_solver(review_max_tokens=cfg.review_max_tokens, seed=cfg.seed),
        scorer=confession_scorer(),
        metrics=[detection(seed=cfg.seed)],
        name=f"confession_{piece.condition}_{piece.arm}_{piece.split}",
        metadata={"ablation_piece": asdict(piece)},
    )
    model, persona = plan.model_for(piece)
    persona_text = f" + persona {persona['persona']}" if persona else ""
    print_fn(f"evaluating {piece.key} ({model}{persona_text})")
    started = time.perf_counter()
    # big generation batches: the review's token-by-token steps, not the prompt, are
    # most of an evaluation on CPUs (measured: 48 reviews 56 s at 8192 vs 93 s at 1024)
    model_args: dict[str, Any] = {"dtype": cfg.eval_dtype, "max_batch_tokens": 8192, **persona}
    try:
        logs = inspect_eval(
            task,
            model=model,
            model_args=model_args,
            log_dir=str(plan.out / "logs"),
            display="none",
            score_display=False,
        )
    finally:
        release_engines()
    log = logs[0]
    if log.status != "success" or not log.results or not log.results.scores:
        error = log.error.message if log.error else log.status
        raise UserInputError(
            f"evaluation {piece.key} did not finish ({error}; log {log.location}); "
            "finished pieces are kept: rerun the same command to resume"
        )
    metrics = {name: m.value for name, m in log.results.scores[0].metrics.items()}
    result = {
        **asdict(piece),
        "model": model,
        "persona": persona.get("persona"),
        "metrics": metrics,
        "rows": sample_rows(log),
        "seconds": round(time.perf_counter() - started, 1),
        "log": str(log.location),
    }
    write_text_atomic(path, json.dumps(result, indent=2) + "\n")
    m = metrics
    print_fn(
        f"  AUROC {metric_text(m.get('auroc'))} [{metric_text(m.get('auroc_ci95_low'))}, "
        f"{metric_text(m.get('auroc_ci95_high'))}], accuracy {metric_text(m.get('accuracy'))}, "
        f"n {int(m.get('n_dishonest', 0))}+{int(m.get('n_honest', 0))} "
        f"({result['seconds']} s)"
    )
    return result
