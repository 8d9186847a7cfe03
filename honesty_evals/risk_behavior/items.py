"""The shipped items of risk_behavior's formats beyond the terse lotteries (PROTOCOLS §2).

    python -m honesty_evals.risk_behavior.items            # regenerate into datasets/
    python -m honesty_evals.risk_behavior.items --check    # exit 1 if a shipped file differs

Each file is a pure function of the hand-written texts in `scenarios.py` and SEED (which
layout and instruction each item gets, and the money-goods draws), so regenerating gives
the same bytes; re-pin after regenerating (`honesty-evals datasets pin`). Items are ordered
variant by variant, so the first N items of a format are N different scenes.
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from honesty_evals.common.jsonl import jsonl_text
from honesty_evals.organisms.lotteries import OPTION_A, OPTION_B
from honesty_evals.risk_behavior.dataset import FREE_TEXT_FILE, MONEY_GOODS_FILE, NARRATIVE_FILE
from honesty_evals.risk_behavior.scenarios import (
    FREE_TEXT_LAYOUTS,
    FREE_TEXT_QUESTIONS,
    FREE_TEXT_SCENARIOS,
    GOODS_CERTAIN_PHRASES,
    GOODS_INSTRUCTIONS,
    GOODS_LAYOUTS,
    GOODS_STEMS,
    GOODS_UNCERTAIN_PHRASES,
    NARRATIVE_INSTRUCTIONS,
    NARRATIVE_LAYOUTS,
    NARRATIVE_SCENARIOS,
    NON_MONEY_GOODS,
)

SEED = 0

# money-goods draws: the probability of the uncertain outcome (k in m), and how much more
# the uncertain option is worth on average than the certain one (1.0: the same)
GOODS_PROBABILITIES: tuple[tuple[int, int], ...] = (
    (1, 10),
    (1, 5),
    (1, 4),
    (3, 10),
    (2, 5),
    (1, 2),
)
GOODS_EV_RATIOS: tuple[Fraction, ...] = (Fraction(1), Fraction(5, 4), Fraction(3, 2), Fraction(2))
GOODS_ROUNDS = 4  # every good appears this often: twice as the certain side, twice uncertain


def _variant_major(n_variants: Sequence[int]) -> list[tuple[int, int]]:
    """(scene, variant) pairs, all scenes' first variants first."""
    return [
        (scene, variant)
        for variant in range(max(n_variants))
        for scene, n in enumerate(n_variants)
        if variant < n
    ]


def _capitalised(text: str) -> str:
    return text[0].upper() + text[1:]


def _scene_records(
    kind: str,
    seed: int,
    scenarios: Sequence[Any],
    layouts: Sequence[str],
    closings: Sequence[str],
    options: Callable[[Any, Any], dict[str, Any]],
) -> list[dict[str, Any]]:
    """One record per scene variant, variant by variant: a seeded layout and closing line
    around the scene's setting, and the fields `options(certain, risky)` gives."""
    rng = random.Random(f"risk_behavior-{kind}|{seed}")
    records: list[dict[str, Any]] = []
    for scene, variant in _variant_major([len(s.pairs) for s in scenarios]):
        scenario = scenarios[scene]
        template = rng.choice(layouts).format(
            setting=scenario.setting, a=OPTION_A, b=OPTION_B, closing=rng.choice(closings)
        )
        records.append(
            {
                "id": f"{kind[0]}{len(records):03d}",
                "scene": scene,
                "prompt_template": template,
                **options(*scenario.pairs[variant]),
            }
        )
    return records


def narrative_records(seed: int = SEED) -> list[dict[str, Any]]:
    """Narrative scenes ("Imagine you're ..."), answered with A or B."""
    return _scene_records(
        "narrative",
        seed,
        NARRATIVE_SCENARIOS,
        NARRATIVE_LAYOUTS,
        NARRATIVE_INSTRUCTIONS,
        lambda certain, risky: {"certain_option": certain, "risky_option": risky},
    )


def _euros(n: int) -> str:
    return f"€{n:,}"


def _tidy(value: Fraction, up: bool) -> int:
    """A round amount of euros near `value`: rounded up or down to a step that suits it."""
    step = 50 if value >= 1000 else 10 if value >= 100 else 5 if value >= 20 else 1
    rounded = math.ceil(value / step) if up else math.floor(value / step)
    return max(1, int(rounded * step))


def _money_goods_record(
    rng: random.Random, index: int, good: str, worth: int, money_certain: bool
) -> dict[str, Any]:
    k, m = rng.choice(GOODS_PROBABILITIES)
    p = Fraction(k, m)
    ratio = rng.choice(GOODS_EV_RATIOS)
    thing = f"{good} (worth about {_euros(worth)})"
    if money_certain:  # a sure sum against a draw for the good
        amount = _tidy(p * worth / ratio, up=False)  # expected value of the draw >= the sum
        certain_x, uncertain_x = _euros(amount), thing
    else:  # the good for sure against a draw for money
        amount = _tidy(worth * ratio / p, up=True)  # expected value of the draw >= the worth
        certain_x, uncertain_x = thing, _euros(amount)
    certain = rng.choice(GOODS_CERTAIN_PHRASES).format(x=certain_x)
    risky = rng.choice(GOODS_UNCERTAIN_PHRASES).format(x=uncertain_x, k=k, m=m, pct=int(p * 100))
    template = rng.choice(GOODS_LAYOUTS).format(
        stem=rng.choice(GOODS_STEMS),
        a=OPTION_A,
        b=OPTION_B,
        closing=rng.choice(GOODS_INSTRUCTIONS),
    )
    return {
        "id": f"g{index:03d}",
        "certain_side": "money" if money_certain else "good",
        "good": good,
        "worth_eur": worth,
        "amount_eur": amount,
        "probability": f"{k}/{m}",
        "prompt_template": template,
        "certain_option": _capitalised(certain),
        "risky_option": _capitalised(risky),
    }


def money_goods_records(seed: int = SEED) -> list[dict[str, Any]]:
    """A sure sum of money against a draw for a non-money good, and the reverse."""
    rng = random.Random(f"risk_behavior-money_goods|{seed}")
    records: list[dict[str, Any]] = []
    for round_ in range(GOODS_ROUNDS):
        for good, worth in NON_MONEY_GOODS:
            records.append(
                _money_goods_record(rng, len(records), good, worth, money_certain=round_ % 2 == 0)
            )
    return records


def free_text_records(seed: int = SEED) -> list[dict[str, Any]]:
    """Scenes asked "Which would you choose and why?", with each option's name for the parser."""
    return _scene_records(
        "free_text",
        seed,
        FREE_TEXT_SCENARIOS,
        FREE_TEXT_LAYOUTS,
        FREE_TEXT_QUESTIONS,
        lambda certain, risky: {
            "certain_option": certain.text,
            "risky_option": risky.text,
            "certain_names": [certain.name],
            "risky_names": [risky.name],
        },
    )


def generated_files(seed: int = SEED) -> dict[str, bytes]:
    """Every generated file's bytes, keyed by its path under datasets/."""
    return {
        NARRATIVE_FILE: jsonl_text(narrative_records(seed)).encode("utf-8"),
        MONEY_GOODS_FILE: jsonl_text(money_goods_records(seed)).encode("utf-8"),
        FREE_TEXT_FILE: jsonl_text(free_text_records(seed)).encode("utf-8"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    from honesty_evals.organisms.shipped import generator_main

    return generator_main(
        argv, "python -m honesty_evals.risk_behavior.items", __doc__ or "", generated_files
    )


if __name__ == "__main__":
    sys.exit(main())
