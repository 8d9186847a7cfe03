"""What one ablation run consists of (its pieces) and where each lives in OUT.

Every piece is keyed by condition, arm and training seed: OUT/organisms/<organism> (the
organism that wrote a condition's transcripts, the base of every arm of that condition),
OUT/adapters/<condition>/<arm>/seed-<k> (each arm's LoRA over that organism),
OUT/checkpoints/<condition>/<arm>/seed-<k>/step-<n> (its exported checkpoints) and
OUT/results/<condition>/... (one JSON per evaluation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.confession.ablation.config import ARMS_VERSION, ORGANISM_OF, AblationConfig
from honesty_evals.confession.formats import PROMPT_FORMATS, evaluation_model
from honesty_evals.errors import UserInputError

# evaluated only at the last step (the held-out questions are evaluated at every checkpoint);
# the directive-ignored diagnostic exists only where the directive is visible
FINAL_SPLITS = ("heldout_topic", "directive_ignored")
SETTINGS_FILE = "ablation.json"
BASELINE = "baseline"  # the arm that is the condition's organism, untrained, same prompts


def final_splits(condition: str) -> tuple[str, ...]:
    return FINAL_SPLITS if condition == "visible" else ("heldout_topic",)


@dataclass(frozen=True)
class Piece:
    """One evaluation: an arm (baseline or a trained format) of a condition, at a step of
    one training seed (None for the untrained baseline), on a split."""

    condition: str
    arm: str
    prompt_format: str
    split: str
    step: int
    seed: int | None = None

    @property
    def key(self) -> str:
        seed = "" if self.seed is None else f"seed-{self.seed}/"
        return (
            f"{self.condition}/{self.arm}-{self.prompt_format}/{seed}"
            f"{self.split}-step{self.step:06d}"
        )


class AblationPlan:
    """The pieces of one ablation and their places in OUT: organisms, adapters, results."""

    def __init__(self, config: AblationConfig) -> None:
        self.config = config
        self.out = Path(config.out).expanduser().resolve()
        # each condition's organism as `hidden.train_condition_organism` returned it
        self.organisms: dict[str, Path] = {}

    def organism_dir(self, condition: str) -> Path:
        """The condition's organism: where it was trained or found, else where it goes."""
        found = self.organisms.get(condition)
        return found if found is not None else self.organism_home(condition)

    def organism_home(self, condition: str) -> Path:
        return self.config.organisms_dir() / ORGANISM_OF[condition]

    def adapter_dir(self, condition: str, arm: str, seed: int) -> Path:
        return self.out / "adapters" / condition / arm / f"seed-{seed}"

    def checkpoint_adapter(self, condition: str, arm: str, seed: int, step: int) -> Path:
        return self.out / "checkpoints" / condition / arm / f"seed-{seed}" / f"step-{step:06d}"

    def result_path(self, piece: Piece) -> Path:
        return self.out / "results" / f"{piece.key}.json"

    def model_for(self, piece: Piece) -> tuple[str, dict[str, str]]:
        """The Inspect model name and its -M arguments of a piece: the condition's organism
        itself (baseline), else the arm's adapter over it (an exported checkpoint before the
        last step): a persona active only after its marker, or merged."""
        organism = str(self.organism_dir(piece.condition))
        if piece.arm == BASELINE:
            return f"local/{organism}", {}
        assert piece.seed is not None
        path = (
            self.adapter_dir(piece.condition, piece.arm, piece.seed)
            if piece.step == self.config.steps
            else self.checkpoint_adapter(piece.condition, piece.arm, piece.seed, piece.step)
        )
        return evaluation_model(piece.arm, path, organism)

    def baseline_prompt_formats(self) -> list[str]:
        """The prompts the untrained organism is evaluated with: those of the arms run."""
        return sorted({PROMPT_FORMATS[f] for f in self.config.formats}, reverse=True)

    def baseline_pieces(self, condition: str) -> list[Piece]:
        return [
            Piece(condition, BASELINE, pf, split, 0)
            for pf in self.baseline_prompt_formats()
            for split in ("heldout", *final_splits(condition))
        ]

    def arm_pieces(self, condition: str, arm: str, seed: int) -> list[Piece]:
        """One trained arm's evaluations: the learning curve, then the final splits."""
        cfg = self.config
        pf = PROMPT_FORMATS[arm]
        pieces = [Piece(condition, arm, pf, "heldout", step, seed) for step in cfg.eval_steps()]
        pieces += [
            Piece(condition, arm, pf, split, cfg.steps, seed) for split in final_splits(condition)
        ]
        return pieces

    def pieces(self) -> list[Piece]:
        """Every evaluation, in the order they are run (an arm's training comes before its)."""
        cfg = self.config
        pieces = []
        for condition in cfg.conditions:
            pieces += self.baseline_pieces(condition)
            for seed in cfg.seeds:
                for arm in cfg.formats:
                    pieces += self.arm_pieces(condition, arm, seed)
        return pieces

    def check_settings(self) -> None:
        """Record this run's settings in OUT, or refuse OUT when it holds another run's."""
        from honesty_evals.common.outputs import check_output_dir

        check_output_dir(self.out, "--out")
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / SETTINGS_FILE
        identity = self.config.identity()
        if not path.is_file():
            write_text_atomic(path, json.dumps(identity, indent=2) + "\n")
            return
        previous = json.loads(path.read_text())
        if previous.get("arms_version") != ARMS_VERSION:
            raise UserInputError(
                f"{self.out} holds an ablation run of an earlier layout (arms_version "
                f"{previous.get('arms_version', 1)}, this version writes {ARMS_VERSION}: "
                "conditions x arms x seeds over each condition's organism): choose another --out"
            )
        if previous != identity:
            changed = sorted(k for k in identity if previous.get(k) != identity[k])
            raise UserInputError(
                f"{self.out} holds an ablation run with other settings ({', '.join(changed)} "
                "differ): rerun with the same flags to resume it, or choose another --out"
            )
