"""The audit's time profile: where the time went, per eval and per model.

Everything comes from the Inspect eval logs (`log.stats`: start and completion times, and the
model usage the provider reported), so a resumed audit profiles its reused evals too. The
`local` provider reports the tokens it computed as `input_tokens` and those it took from
its shared-prefix cache as `input_tokens_cache_read` (Inspect's convention for provider
caches), so the profile shows what the cache saved; other providers report their own
cache reads, or none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class EvalUsage:
    """One eval's wall time and tokens, as its log records them."""

    started_at: str | None = None
    completed_at: str | None = None
    wall_seconds: float | None = None
    input_tokens: int = 0  # prompt tokens computed
    cache_read_tokens: int = 0  # prompt tokens taken from a cache
    output_tokens: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_read_tokens

    @property
    def tokens(self) -> int:
        """Tokens processed: every prompt token asked for, and every generated one."""
        return self.prompt_tokens + self.output_tokens

    @property
    def computed_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def hit_rate(self) -> float | None:
        """Share of the prompt tokens served from the cache (None: no prompt tokens)."""
        return self.cache_read_tokens / self.prompt_tokens if self.prompt_tokens else None

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "tokens": self.tokens,
            "computed_tokens": self.computed_tokens,
            "hit_rate": _round(self.hit_rate),
        }


def eval_usage(log: Any) -> EvalUsage:
    """Wall time and token counts from an eval log's stats (all models it used summed)."""
    stats = getattr(log, "stats", None)
    if stats is None:
        return EvalUsage()
    started, completed = stats.started_at or None, stats.completed_at or None
    wall = None
    if started and completed:
        try:
            delta = datetime.fromisoformat(completed) - datetime.fromisoformat(started)
            wall = round(delta.total_seconds(), 1)
        except (TypeError, ValueError):
            wall = None
    usages = list((stats.model_usage or {}).values())
    return EvalUsage(
        started_at=started,
        completed_at=completed,
        wall_seconds=wall,
        input_tokens=sum(u.input_tokens for u in usages),
        cache_read_tokens=sum(u.input_tokens_cache_read or 0 for u in usages),
        output_tokens=sum(u.output_tokens for u in usages),
    )


def time_profile(evals: Iterable[Any]) -> dict[str, Any]:
    """Per eval (slowest first) and per model: wall time, tokens processed and computed,
    cache hit rate. `evals` are the audit's EvalRecords (task, purpose, model, usage)."""
    records = [e for e in evals if getattr(e, "usage", None) is not None]
    rows = [
        {
            "task": e.task,
            "purpose": e.purpose,
            "model": e.model,
            "reused": e.reused,
            **e.usage.to_json(),
        }
        for e in records
    ]
    rows.sort(key=lambda r: -(r["wall_seconds"] or 0.0))
    models = []
    for model in dict.fromkeys(e.model for e in records):
        mine = [e for e in records if e.model == model]
        total = _sum_usage(e.usage for e in mine)
        starts = [e.usage.started_at for e in mine if e.usage.started_at]
        ends = [e.usage.completed_at for e in mine if e.usage.completed_at]
        span = None
        if starts and ends:
            try:
                delta = datetime.fromisoformat(max(ends)) - datetime.fromisoformat(min(starts))
                span = round(delta.total_seconds(), 1)
            except (TypeError, ValueError):
                span = None
        models.append(
            {
                "model": model,
                "evals": len(mine),
                # evals of one model run side by side, so their times add up to more than
                # the model's span from first start to last finish
                "span_seconds": span,
                "eval_seconds": round(sum(e.usage.wall_seconds or 0.0 for e in mine), 1),
                **{k: v for k, v in total.to_json().items() if k not in _TIMES},
            }
        )
    return {"evals": rows, "models": models}


_TIMES = ("started_at", "completed_at", "wall_seconds")


def _sum_usage(usages: Iterable[EvalUsage]) -> EvalUsage:
    items = list(usages)
    return EvalUsage(
        input_tokens=sum(u.input_tokens for u in items),
        cache_read_tokens=sum(u.cache_read_tokens for u in items),
        output_tokens=sum(u.output_tokens for u in items),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.0%}"


PROFILE_HOW_TO_READ = (
    "Wall time per eval from its log (evals run side by side, so they add up to more than "
    "the audit's run time); tokens processed = prompt tokens asked for + tokens generated; "
    "computed = what the model actually ran (prompt tokens not served from a cache + "
    "generated); cache hits = share of prompt tokens served from the shared-prefix cache "
    "(`-M prefix_cache`). The slowest evals are first: trim those to shorten the audit."
)


def profile_table(profile: dict[str, Any]) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """(header, eval rows, model rows) as text cells, for the markdown and HTML reports."""
    header = ["eval", "model", "wall s", "tokens", "computed", "cache hits"]
    evals = [
        [
            f"{r['task']} ({r['purpose']})" + (" (reused)" if r["reused"] else ""),
            r["model"],
            _seconds(r["wall_seconds"]),
            f"{r['tokens']:,}",
            f"{r['computed_tokens']:,}",
            _rate(r["hit_rate"]),
        ]
        for r in profile["evals"]
    ]
    models = [
        [
            f"all {m['evals']} evals (span {_seconds(m['span_seconds'])} s)",
            m["model"],
            _seconds(m["eval_seconds"]),
            f"{m['tokens']:,}",
            f"{m['computed_tokens']:,}",
            _rate(m["hit_rate"]),
        ]
        for m in profile["models"]
    ]
    return header, evals, models
