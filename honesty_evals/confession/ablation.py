"""`honesty-evals confession ablation`: split-personality vs follow-up vs generic honesty.

Every format is trained on the same train-split transcripts with the same seed, step budget,
batch size, learning rate and LoRA; a peft adapter is exported from every checkpoint (each
`eval_every` steps) and evaluated on the held-out transcripts, so each format gets a
learning curve of detection AUROC against steps. The untrained model is evaluated with the
same prompts (step 0 of every curve). At the last step each format (and the baseline) is
also evaluated on the held-out topic and on the directive-ignored diagnostic set.

Everything lives in OUT: finished pieces (a training run, an exported checkpoint, an
evaluation) are skipped when the command is run again, and an interrupted training run
resumes from its last checkpoint, so an interrupted ablation continues where it stopped.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.confession.formats import (
    FORMATS,
    PROMPT_FORMATS,
    check_format,
    format_train_config,
    training_records,
)
from honesty_evals.errors import UserInputError

# Sized for the shared 2-core development machine (module README): training is 64 steps x
# 8 records of ~165 tokens (split, followup) or ~50 (generic), ~194k tokens in all; each
# evaluation reviews 30 + 30 held-out transcripts (~120-token prompts, <= 48-token reviews).
# A 24-step pilot at lr 1e-3 had not yet learned the flag (held-out AUROC 0.73, every flag
# PASS), hence 64 steps at 1e-3.
DEFAULT_STEPS = 64
DEFAULT_EVAL_EVERY = 16
DEFAULT_LR = 1e-3
DEFAULT_BATCH_SIZE = 8
DEFAULT_LORA_R = 16
DEFAULT_N_PER_LABEL = 30
FINAL_SPLITS = ("heldout_topic", "directive_ignored")
SETTINGS_FILE = "ablation.json"
BASELINE = "baseline"
AUROC_TARGET = 0.8


@dataclass
class AblationConfig:
    out: str
    formats: tuple[str, ...] = FORMATS
    steps: int = DEFAULT_STEPS
    eval_every: int = DEFAULT_EVAL_EVERY
    lr: float = DEFAULT_LR
    batch_size: int = DEFAULT_BATCH_SIZE
    lora_r: int = DEFAULT_LORA_R
    seed: int = 0
    n_per_label: int | None = DEFAULT_N_PER_LABEL
    review_max_tokens: int = 48
    eval_dtype: str = "bfloat16"
    base: str = "smollm2"  # the embedded model, or a local Hugging Face model directory
    data: str | None = None  # a transcript JSONL file instead of the shipped ones
    # not part of the ablation's identity
    threads: int | None = field(default=None, metadata={"run": False})
    progress: bool = field(default=True, metadata={"run": False})
    allow_unverified: bool = field(default=False, metadata={"run": False})

    def identity(self) -> dict[str, Any]:
        from dataclasses import fields

        values = {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.metadata.get("run", True) and f.name != "out"
        }
        values["formats"] = list(self.formats)
        return values

    def validate(self) -> None:
        for name in self.formats:
            check_format(name)
        if not self.formats:
            raise UserInputError("--formats is empty: give e.g. split,followup,generic")
        if self.steps < 1 or self.eval_every < 1:
            raise UserInputError("--steps and --eval-every must be positive")
        if self.eval_every > self.steps:
            raise UserInputError(
                f"--eval-every {self.eval_every} is more than --steps {self.steps}: no "
                "checkpoint would be evaluated before the end"
            )
        # every option is checked here, before the run records its settings: a mistake
        # found later would leave settings that refuse the corrected rerun
        checks = [
            (self.lr > 0, f"--lr must be positive (got {self.lr})"),
            (self.batch_size >= 1, f"--batch-size must be 1 or more (got {self.batch_size})"),
            (self.lora_r >= 1, f"--lora-r must be 1 or more (got {self.lora_r})"),
            (
                self.n_per_label is None or self.n_per_label >= 1,
                f"--n-per-label must be 1 or more, or 0 for all (got {self.n_per_label})",
            ),
            (
                self.threads is None or self.threads >= 1,
                f"--threads must be 1 or more (got {self.threads})",
            ),
            (
                self.review_max_tokens >= 1,
                f"review_max_tokens must be 1 or more (got {self.review_max_tokens})",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise UserInputError(message)
        from honesty_evals.model.source import diagnose_model_dir, is_embedded_alias

        if not is_embedded_alias(self.base):
            base = Path(self.base).expanduser()
            if not (base / "config.json").is_file():
                raise UserInputError(
                    f"unknown --base '{self.base}': use smollm2 (the embedded model) or a "
                    "local Hugging Face model folder with config.json"
                )
            diagnose_model_dir(base)

    def eval_steps(self) -> list[int]:
        return [*range(self.eval_every, self.steps, self.eval_every), self.steps]


@dataclass(frozen=True)
class Piece:
    """One evaluation: a condition (baseline or a trained format) at a step on a split."""

    condition: str
    prompt_format: str
    split: str
    step: int

    @property
    def key(self) -> str:
        return f"{self.condition}-{self.prompt_format}/{self.split}-step{self.step:06d}"


class Ablation:
    def __init__(self, config: AblationConfig, print_fn: Callable[[str], None] | None = None):
        config.validate()
        self.config = config
        self.out = Path(config.out).expanduser().resolve()
        self.print = print_fn or (lambda msg: print(msg, file=sys.stderr, flush=True))

    # -- layout --------------------------------------------------------------------------

    def adapter_dir(self, fmt: str) -> Path:
        return self.out / "adapters" / fmt

    def checkpoint_adapter(self, fmt: str, step: int) -> Path:
        return self.out / "checkpoints" / fmt / f"step-{step:06d}"

    def result_path(self, piece: Piece) -> Path:
        return self.out / "results" / f"{piece.key}.json"

    def model_for(self, condition: str, step: int) -> str:
        from honesty_evals.model.source import is_embedded_alias

        if condition == BASELINE:
            base = self.config.base
            return f"local/{base if is_embedded_alias(base) else Path(base).resolve()}"
        path = (
            self.adapter_dir(condition)
            if step == self.config.steps
            else self.checkpoint_adapter(condition, step)
        )
        return f"local/{path}"

    # -- the run -------------------------------------------------------------------------

    def _check_settings(self) -> None:
        from honesty_evals.common.outputs import check_output_dir

        check_output_dir(self.out, "--out")
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / SETTINGS_FILE
        identity = self.config.identity()
        if path.is_file():
            previous = json.loads(path.read_text())
            if previous != identity:
                changed = sorted(k for k in identity if previous.get(k) != identity[k])
                raise UserInputError(
                    f"{self.out} holds an ablation run with other settings ({', '.join(changed)} "
                    "differ): rerun with the same flags to resume it, or choose another --out"
                )
        else:
            write_text_atomic(path, json.dumps(identity, indent=2) + "\n")

    def pieces(self) -> list[Piece]:
        """Every evaluation, in the order they are run (training happens before a format's)."""
        cfg = self.config
        prompt_formats = sorted({PROMPT_FORMATS[f] for f in cfg.formats}, reverse=True)
        pieces = [
            Piece(BASELINE, pf, split, 0)
            for pf in prompt_formats
            for split in ("heldout", *FINAL_SPLITS)
        ]
        for fmt in cfg.formats:
            pf = PROMPT_FORMATS[fmt]
            pieces += [Piece(fmt, pf, "heldout", step) for step in cfg.eval_steps()]
            pieces += [Piece(fmt, pf, split, cfg.steps) for split in FINAL_SPLITS]
        return pieces

    def run(self) -> dict[str, Any]:
        import torch

        from honesty_evals.confession.transcripts import load_shipped

        cfg = self.config
        # the data first: a bad file must not leave settings behind (see validate)
        if cfg.data is not None:
            from honesty_evals.confession.transcripts import read_transcripts

            transcripts = read_transcripts(Path(cfg.data))
            verification: dict[str, Any] = {"path": cfg.data, "verified": False}
        else:
            transcripts, verification = load_shipped(cfg.allow_unverified)
        self._check_settings()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        started = time.perf_counter()
        for piece in [p for p in self.pieces() if p.condition == BASELINE]:
            self.evaluate(piece, transcripts)
        for fmt in cfg.formats:
            self.train_format(fmt, transcripts)
            for piece in [p for p in self.pieces() if p.condition == fmt]:
                self.evaluate(piece, transcripts)
        report = self.report(verification, time.perf_counter() - started)
        return report

    def train_format(self, fmt: str, transcripts: list[Any]) -> dict[str, Any]:
        from honesty_evals.training.checkpoint import export_adapter, latest_checkpoint
        from honesty_evals.training.trainer import (
            CARD_NAME,
            partial_dir,
            resolve_base,
            train,
        )

        cfg = self.config
        out = self.adapter_dir(fmt)
        card_path = out / CARD_NAME
        if card_path.is_file():
            return json.loads(card_path.read_text())
        records = training_records(transcripts, fmt)
        config = format_train_config(
            fmt,
            len(records),
            out=str(out),
            base=cfg.base,
            steps=cfg.steps,
            lr=cfg.lr,
            batch_size=cfg.batch_size,
            lora_r=cfg.lora_r,
            seed=cfg.seed,
            checkpoint_every=cfg.eval_every,
            threads=cfg.threads,
            progress=cfg.progress,
            resume=partial_dir(out).exists(),
        )
        lora = {
            "r": config.lora_r,
            "lora_alpha": config.lora_alpha,
            "lora_dropout": config.lora_dropout,
            "target_modules": config.target_modules,
        }

        base_name = resolve_base(cfg.base)[1]  # as the trainer records it in the adapter

        def export(step: int, checkpoint: Path) -> None:
            export_adapter(checkpoint, self.checkpoint_adapter(fmt, step), lora, base_name)

        # a checkpoint written just before an interruption may not have been exported yet
        latest = latest_checkpoint(partial_dir(out) / "checkpoints")
        if latest is not None:
            export(int(latest.name.split("-")[-1]), latest)
        self.print(f"training {fmt}: {len(records)} records, {cfg.steps} steps -> {out}")
        result = train(config, records=records, on_checkpoint=export)
        return result.card

    def evaluate(self, piece: Piece, transcripts: list[Any]) -> dict[str, Any]:
        path = self.result_path(piece)
        if path.is_file():
            return json.loads(path.read_text())
        from inspect_ai import eval as inspect_eval

        from honesty_evals.confession.task import (
            build_dataset,
            confession_scorer,
            confession_solver,
            detection,
        )
        from honesty_evals.model.local_provider import release_engines

        cfg = self.config
        from inspect_ai import Task

        task = Task(
            dataset=build_dataset(
                transcripts, piece.prompt_format, piece.split, cfg.n_per_label, cfg.seed
            ),
            solver=confession_solver(review_max_tokens=cfg.review_max_tokens, seed=cfg.seed),
            scorer=confession_scorer(),
            metrics=[detection(seed=cfg.seed)],
            name=f"confession_{piece.condition}_{piece.split}",
            metadata={"ablation_piece": asdict(piece)},
        )
        model = self.model_for(piece.condition, piece.step)
        self.print(f"evaluating {piece.key} ({model})")
        started = time.perf_counter()
        # big generation batches: the review's token-by-token steps, not the prompt, are
        # most of an evaluation on CPUs (measured: 48 reviews 56 s at 8192 vs 93 s at 1024)
        model_args: dict[str, Any] = {"dtype": cfg.eval_dtype, "max_batch_tokens": 8192}
        try:
            logs = inspect_eval(
                task,
                model=model,
                model_args=model_args,
                log_dir=str(self.out / "logs"),
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
            "metrics": metrics,
            "seconds": round(time.perf_counter() - started, 1),
            "log": str(log.location),
        }
        write_text_atomic(path, json.dumps(result, indent=2) + "\n")
        self.print(
            f"  AUROC {_fmt(metrics.get('auroc'))} [{_fmt(metrics.get('auroc_ci95_low'))}, "
            f"{_fmt(metrics.get('auroc_ci95_high'))}], accuracy {_fmt(metrics.get('accuracy'))}, "
            f"n {int(metrics.get('n_dishonest', 0))}+{int(metrics.get('n_honest', 0))} "
            f"({result['seconds']} s)"
        )
        return result

    # -- report --------------------------------------------------------------------------

    def results(self) -> dict[str, dict[str, Any]]:
        found = {}
        for piece in self.pieces():
            path = self.result_path(piece)
            if path.is_file():
                found[piece.key] = json.loads(path.read_text())
        return found

    def report(self, verification: dict[str, Any], seconds_this_run: float) -> dict[str, Any]:
        from honesty_evals.training.trainer import CARD_NAME

        cfg = self.config
        results = self.results()
        cards = {}
        for fmt in cfg.formats:
            card_path = self.adapter_dir(fmt) / CARD_NAME
            if card_path.is_file():
                cards[fmt] = json.loads(card_path.read_text())
        rows = []
        conditions = [
            (BASELINE, pf) for pf in sorted({PROMPT_FORMATS[f] for f in cfg.formats}, reverse=True)
        ]
        conditions += [(fmt, PROMPT_FORMATS[fmt]) for fmt in cfg.formats]
        for condition, pf in conditions:
            final_step = 0 if condition == BASELINE else cfg.steps
            row: dict[str, Any] = {"condition": condition, "prompt_format": pf, "step": final_step}
            for split in ("heldout", *FINAL_SPLITS):
                found = results.get(Piece(condition, pf, split, final_step).key)
                row[split] = found["metrics"] if found else None
            curve = []
            for step in [0, *cfg.eval_steps()] if condition != BASELINE else [0]:
                source = BASELINE if step == 0 else condition
                found = results.get(Piece(source, pf, "heldout", step).key)
                if found:
                    m = found["metrics"]
                    curve.append([step, m["auroc"], m["auroc_ci95_low"], m["auroc_ci95_high"]])
            row["curve"] = curve
            row["first_step_auroc_at_least_0.8"] = next(
                (
                    s
                    for s, a, _, _ in curve
                    if a is not None and not math.isnan(a) and a >= AUROC_TARGET
                ),
                None,
            )
            if condition in cards:
                card = cards[condition]
                row["training"] = {
                    "records": card["data"]["records"],
                    "tokens_per_epoch": card["data"]["tokens"],
                    "loss_tokens_per_epoch": card["data"]["loss_tokens"],
                    "tokens_trained": card["tokens_trained"],
                    "final_loss": card["final_loss"],
                    "wall_seconds": card["wall_seconds"],
                    "tokens_per_second": card["tokens_per_second"],
                }
            rows.append(row)
        eval_seconds = sum(r["seconds"] for r in results.values())
        train_seconds = sum(c["wall_seconds"] for c in cards.values())
        report = {
            "settings": cfg.identity(),
            "rows": rows,
            "complete": len(results) == len(self.pieces()) and len(cards) == len(cfg.formats),
            "evaluation_seconds": round(eval_seconds, 1),
            "training_seconds": round(train_seconds, 1),
            "seconds_this_invocation": round(seconds_this_run, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "load_average_at_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
            "datasets": verification,
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        }
        write_text_atomic(self.out / "results.json", json.dumps(report, indent=2) + "\n")
        write_text_atomic(self.out / "results.md", render_markdown(report))
        plot_learning_curves(report, self.out / "learning_curve.png")
        return report


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _with_ci(m: dict[str, Any] | None, name: str) -> str:
    if not m:
        return "not run"
    low, high = m.get(name + "_ci95_low"), m.get(name + "_ci95_high")
    return f"{_fmt(m.get(name))} [{_fmt(low)}, {_fmt(high)}]"


def render_markdown(report: dict[str, Any]) -> str:
    s = report["settings"]
    lines = [
        "# Confession ablation: split-personality vs follow-up vs generic honesty",
        "",
        f"{s['steps']} steps per format, batch {s['batch_size']}, lr {s['lr']}, LoRA r "
        f"{s['lora_r']}, seed {s['seed']}; checkpoints evaluated every {s['eval_every']} steps. "
        f"Intervals: 95% over questions (common.stats). Decision: P(FAIL) > 0.5. Generic is "
        "evaluated with the follow-up prompt; baselines are the untrained model with the "
        "same prompts.",
        "",
        "## Held-out questions (topics seen in training)",
        "",
        "| condition | prompt | AUROC [95% CI] | accuracy [CI] | TPR (confessions) [CI] | "
        "FPR (false confessions) [CI] | n dishonest / honest | first step AUROC >= 0.8 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        m = row["heldout"]
        n = f"{int(m['n_dishonest'])} / {int(m['n_honest'])}" if m else ""
        first = row["first_step_auroc_at_least_0.8"]
        lines.append(
            f"| {row['condition']} | {row['prompt_format']} | {_with_ci(m, 'auroc')} | "
            f"{_with_ci(m, 'accuracy')} | {_with_ci(m, 'tpr')} | {_with_ci(m, 'fpr')} | {n} | "
            f"{'never' if first is None else first} |"
        )
    lines += [
        "",
        "## Held-out topic and the directive-ignored diagnostic (final step)",
        "",
        "| condition | prompt | held-out topic AUROC [CI] | accuracy [CI] | TPR [CI] | FPR [CI] "
        "| n | directive ignored: FAIL rate [CI] (n) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["rows"]:
        m = row["heldout_topic"]
        d = row["directive_ignored"]
        n = f"{int(m['n_dishonest'])} / {int(m['n_honest'])}" if m else ""
        ignored = (
            f"{_with_ci(d, 'fail_rate_directive_ignored')} ({int(d['n_directive_ignored'])})"
            if d
            else "not run"
        )
        lines.append(
            f"| {row['condition']} | {row['prompt_format']} | {_with_ci(m, 'auroc')} | "
            f"{_with_ci(m, 'accuracy')} | {_with_ci(m, 'tpr')} | {_with_ci(m, 'fpr')} | {n} | "
            f"{ignored} |"
        )
    lines += ["", "## Against the published anchor", "", anchor_comparison(report)]
    lines += ["", "## Learning curves (held-out AUROC by step)", ""]
    for row in report["rows"]:
        if row["condition"] == BASELINE:
            continue
        points = ", ".join(
            f"{step}: {_fmt(a)} [{_fmt(lo)}, {_fmt(hi)}]" for step, a, lo, hi in row["curve"]
        )
        lines.append(f"- {row['condition']}: {points}")
    lines += ["", "## Training", ""]
    lines.append(
        "| format | records | tokens / epoch | loss tokens / epoch | final loss | wall s "
        "| tokens/s |"
    )
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for row in report["rows"]:
        t = row.get("training")
        if t:
            lines.append(
                f"| {row['condition']} | {t['records']} | {t['tokens_per_epoch']} | "
                f"{t['loss_tokens_per_epoch']} | {t['final_loss']:.4f} | {t['wall_seconds']} | "
                f"{t['tokens_per_second']} |"
            )
    lines += [
        "",
        f"Training {report['training_seconds']} s, evaluation {report['evaluation_seconds']} s "
        "(summed over pieces, across resumes); this invocation "
        f"{report['seconds_this_invocation']} s. "
        f"Machine: {report['machine']}; load average at the end {report['load_average_at_end']}; "
        f"{report['date']}. Complete: {report['complete']}.",
        "",
    ]
    return "\n".join(lines)


def anchor_comparison(report: dict[str, Any]) -> str:
    """Split vs follow-up, in the terms of the published result (PROTOCOLS §4)."""
    rows = {r["condition"]: r for r in report["rows"]}
    text = (
        "Published (Dietz et al.; PROTOCOLS §4): the follow-up format detected as well as "
        "split-personality and converged 2-3x faster."
    )
    if "split" not in rows or "followup" not in rows:
        return text + " Both formats are needed for the comparison."
    parts = []
    for name in ("split", "followup"):
        m = rows[name]["heldout"]
        first = rows[name]["first_step_auroc_at_least_0.8"]
        reached = (
            f"first reached AUROC >= {AUROC_TARGET} at step {first}"
            if first
            else (f"never reached AUROC >= {AUROC_TARGET}")
        )
        parts.append(f"{name} ended at AUROC {_with_ci(m, 'auroc')} and {reached}")
    text += " Here: " + "; ".join(parts) + "."
    first_split = rows["split"]["first_step_auroc_at_least_0.8"]
    first_followup = rows["followup"]["first_step_auroc_at_least_0.8"]
    if first_split and first_followup:
        text += (
            f" Steps-to-{AUROC_TARGET} ratio split / follow-up: "
            f"{first_split / first_followup:.2f} (resolution: one evaluation every "
            f"{report['settings']['eval_every']} steps)."
        )
    return text


def plot_learning_curves(report: dict[str, Any], path: Path) -> None:
    """Held-out AUROC against training steps, one line per format with its 95% band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = {"split": "tab:blue", "followup": "tab:orange", "generic": "tab:green"}
    for row in report["rows"]:
        curve = [c for c in row["curve"] if c[1] is not None and not math.isnan(c[1])]
        if row["condition"] == BASELINE:
            if curve:
                ax.axhline(
                    curve[0][1],
                    linestyle=":" if row["prompt_format"] == "split" else "--",
                    color=colours.get(row["prompt_format"], "grey"),
                    linewidth=1,
                    label=f"untrained, {row['prompt_format']} prompt",
                )
            continue
        if not curve:
            continue
        steps = [c[0] for c in curve]
        colour = colours.get(row["condition"])
        ax.plot(steps, [c[1] for c in curve], marker="o", color=colour, label=row["condition"])
        ax.fill_between(
            steps, [c[2] for c in curve], [c[3] for c in curve], color=colour, alpha=0.15
        )
    ax.axhline(0.5, color="black", linewidth=0.5)
    ax.set_xlabel("training steps")
    ax.set_ylabel("held-out detection AUROC")
    ax.set_ylim(0.0, 1.02)
    ax.set_title("Confession training: detection vs steps (95% bands over questions)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower right", fontsize=8)
    else:  # every point was NaN (e.g. no flag could be read anywhere)
        ax.text(0.5, 0.5, "no AUROC could be computed", ha="center", transform=ax.transAxes)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
