"""What one ablation run consists of (its pieces) and where each lives in OUT."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.confession.ablation.config import AblationConfig
from honesty_evals.confession.formats import PROMPT_FORMATS, evaluation_model
from honesty_evals.errors import UserInputError

# evaluated only at the last step (the held-out questions are evaluated at every checkpoint)
FINAL_SPLITS = ("heldout_topic", "directive_ignored")
SETTINGS_FILE = "ablation.json"
BASELINE = "baseline"


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


class AblationPlan:
    """The pieces of one ablation and their places in OUT: adapters, checkpoints, results."""

    def __init__(self, config: AblationConfig) -> None:
        self.config = config
        self.out = Path(config.out).expanduser().resolve()

    def adapter_dir(self, fmt: str) -> Path:
        return self.out / "adapters" / fmt

    def checkpoint_adapter(self, fmt: str, step: int) -> Path:
        return self.out / "checkpoints" / fmt / f"step-{step:06d}"

    def result_path(self, piece: Piece) -> Path:
        return self.out / "results" / f"{piece.key}.json"

    def model_for(self, condition: str, step: int) -> tuple[str, dict[str, str]]:
        """The Inspect model name and its -M arguments of a condition at a step (an exported
        checkpoint's adapter before the last step): a persona format's adapter runs over
        the base model, active only after its marker; the others' are merged into it."""
        from honesty_evals.model.source import is_embedded_alias

        base = self.config.base
        base_model = base if is_embedded_alias(base) else str(Path(base).resolve())
        if condition == BASELINE:
            return f"local/{base_model}", {}
        path = (
            self.adapter_dir(condition)
            if step == self.config.steps
            else self.checkpoint_adapter(condition, step)
        )
        return evaluation_model(condition, path, base_model)

    def baseline_prompt_formats(self) -> list[str]:
        """The prompts the untrained model is evaluated with: those of the formats run."""
        return sorted({PROMPT_FORMATS[f] for f in self.config.formats}, reverse=True)

    def pieces(self) -> list[Piece]:
        """Every evaluation, in the order they are run (training happens before a format's)."""
        cfg = self.config
        pieces = [
            Piece(BASELINE, pf, split, 0)
            for pf in self.baseline_prompt_formats()
            for split in ("heldout", *FINAL_SPLITS)
        ]
        for fmt in cfg.formats:
            pf = PROMPT_FORMATS[fmt]
            pieces += [Piece(fmt, pf, "heldout", step) for step in cfg.eval_steps()]
            pieces += [Piece(fmt, pf, split, cfg.steps) for split in FINAL_SPLITS]
        return pieces

    def check_settings(self) -> None:
        """Record this run's settings in OUT, or refuse OUT when it holds another run's."""
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
