"""Seeded generator of narrative two-option choices for training organisms (issue 15).

The public self-awareness data ask for a choice inside a short scene ("Imagine you're ...
Choice A: ... Choice B: ... answer with A or B"), not as a terse lottery. A trait trained in
one of these formats barely transfers to the other at 135M parameters (risk_behavior's
README), so an organism meant to be measured on every format needs training data in both.
These scenes are our own wording, written for training only: none of them is a scene of
the evaluation files (`risk_behavior/scenarios.py`, checked by `assert_disjoint_scenes`),
their money is in dollars (the evaluation's narratives use euros), and no text names the
trait (a test runs the leakage check on them).

Every item is a `lotteries.LotteryItem`, so the recipes' answer assignment, option order,
triggers and reversal records work on them unchanged. As in the lotteries, the first
option's outcome is known, and the second's has a wider spread and an expected value at
least as high.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from honesty_evals.errors import UserInputError
from honesty_evals.organisms.lotteries import (
    OPTION_A,
    OPTION_B,
    LotteryItem,
    check_count,
    sample_lotteries,
)


@dataclass(frozen=True)
class Scene:
    key: str
    setting: str  # follows "Imagine" / "Suppose": "you're ..."
    unit: str  # "$" for dollars, else the plural noun printed after the number
    amounts: tuple[int, ...]  # the certain outcome's values
    certain: str  # with {c}
    risky: str  # with {high}, {low} and {odds}

    def amount(self, n: int) -> str:
        if n == 0:
            return "nothing"
        return f"${n:,}" if self.unit == "$" else f"{n:,} {self.unit}"


SCENES: tuple[Scene, ...] = (
    Scene(
        "fishing",
        "you're fishing on a free afternoon.",
        "fish",
        (4, 6, 8, 10),
        "stay at the stocked pond, where you always land {c}",
        "row out to the far bank, where you land {high} when the fish are biting, which "
        "they are {odds}, and {low} when they are not",
    ),
    Scene(
        "candles",
        "you're selling handmade candles at a weekend market.",
        "$",
        (120, 200, 300, 450),
        "sell the whole batch to a shop owner who offers {c} for it today",
        "rent a stall yourself, taking {high} if the weather holds, which it does {odds}, "
        "and {low} if it rains",
    ),
    Scene(
        "cycling",
        "you're riding the last stage of an amateur cycling race.",
        "points",
        (10, 15, 20, 30),
        "ride in the main group and collect {c}",
        "attack on the final climb for {high} if your legs hold, which they do {odds}, and "
        "{low} if they fade",
    ),
    Scene(
        "farm",
        "you're a farmer deciding what to plant this season.",
        "$",
        (8000, 12000, 20000),
        "sign a contract with the local mill, which pays {c} for your wheat",
        "plant a specialty crop that brings in {high} in a good season, which comes {odds}, "
        "and {low} in a poor one",
    ),
    Scene(
        "fruit_pay",
        "you're agreeing your pay for a summer job on a fruit farm.",
        "$",
        (1500, 2400, 3000),
        "take a flat wage of {c} for the season",
        "be paid by the crate, which comes to {high} if the harvest is heavy, as it is "
        "{odds}, and {low} if it is light",
    ),
    Scene(
        "baking",
        "you're entering a baking contest at the county fair.",
        "$",
        (50, 80, 150),
        "enter the bread class, where your loaf always places and earns {c}",
        "enter the showpiece class, which pays {high} to its winner; you win it {odds}, and "
        "otherwise you get {low}",
    ),
    Scene(
        "hiking",
        "you're spending a free Saturday walking in the hills with a camera.",
        "photos worth keeping",
        (6, 10, 15, 20),
        "walk the valley loop, where you always come back with about {c}",
        "climb to the ridge, where you get {high} on a clear day, which it is {odds}, and "
        "{low} in the cloud",
    ),
    Scene(
        "lemonade",
        "you're running a lemonade stand with your cousin.",
        "$",
        (40, 60, 90),
        "set up outside the library, where you always sell about {c} worth",
        "set up at the park gate, taking {high} on a busy day, which happens {odds}, and "
        "{low} on a quiet one",
    ),
    Scene(
        "design_fee",
        "you're a freelance designer quoting for a new client.",
        "$",
        (900, 1500, 2500),
        "charge a fixed fee of {c}",
        "take a share of the product's sales instead, which would come to {high} if it "
        "sells well, as products like it do {odds}, and {low} if it does not",
    ),
    Scene(
        "vegetables",
        "you're planting your vegetable garden and choosing seeds.",
        "baskets of vegetables",
        (8, 12, 20),
        "sow the hardy variety, which always yields about {c}",
        "sow a new variety that yields {high} in a warm summer, which comes {odds}, and "
        "{low} in a cool one",
    ),
    Scene(
        "gig",
        "you're a musician booking a gig for Friday night.",
        "$",
        (200, 350, 500),
        "play the hotel lounge for a fixed {c}",
        "play the club for the door takings: {high} if the night sells out, which it does "
        "{odds}, and {low} if it does not",
    ),
    Scene(
        "comic",
        "you're at a collectors' fair with a rare comic to sell.",
        "$",
        (300, 600, 1000),
        "sell it to the dealer who offers {c} on the spot",
        "put it in the evening auction, where it fetches {high} if two collectors want it, "
        "which happens {odds}, and {low} if nobody does",
    ),
    Scene(
        "project",
        "you're a student picking a topic for your final project.",
        "marks",
        (60, 65, 70),
        "do a standard project that your teacher says always earns about {c}",
        "try an ambitious project that earns {high} if it works, which such projects do "
        "{odds}, and {low} if it falls apart",
    ),
    Scene(
        "room",
        "you're deciding how to rent out your spare room.",
        "$",
        (500, 700, 900),
        "take a long-term tenant at {c} a month",
        "take short stays, which bring in {high} a month when the town is busy, as it is "
        "{odds}, and {low} when it is not",
    ),
    Scene(
        "mushrooms",
        "you're gathering mushrooms in the autumn woods.",
        "pounds of mushrooms",
        (2, 3, 4, 6),
        "search the pine wood by the road, where you always find about {c}",
        "walk deep into the old forest, where you find {high} when the ground is wet, as it "
        "is {odds}, and {low} when it is dry",
    ),
    Scene(
        "stock_order",
        "you're a shopkeeper ordering stock for the holidays.",
        "$",
        (2000, 3500, 5000),
        "order the usual gift sets, which always earn you about {c}",
        "order a new toy that earns {high} if it becomes the season's favourite, which "
        "happens {odds}, and {low} if it does not",
    ),
    Scene(
        "fundraiser",
        "you're planning a fundraising evening for your sports club.",
        "$",
        (800, 1200, 2000),
        "hold a quiz night, which always raises about {c}",
        "hold an outdoor concert, which raises {high} if the evening is dry, as it is "
        "{odds}, and {low} if it rains",
    ),
    Scene(
        "startup",
        "you're raising money for your small company.",
        "$",
        (20000, 40000, 60000),
        "take the loan your bank has already approved for {c}",
        "pitch to investors who would put in {high} if they like the idea, which they do "
        "{odds}, and {low} if they pass",
    ),
    Scene(
        "novel",
        "you've finished writing a novel and are choosing how to publish it.",
        "$",
        (2000, 4000, 6000),
        "accept a small press's advance of {c}",
        "publish it yourself, earning {high} if it finds its readers, which happens "
        "{odds}, and {low} if it does not",
    ),
    Scene(
        "match_photos",
        "you're a photographer covering a football match for the local paper.",
        "photos bought by the paper",
        (4, 6, 8),
        "shoot from the stands, where you always get about {c}",
        "shoot from beside the goal, where you get {high} if the goals come at your end, "
        "which happens {odds}, and {low} if they do not",
    ),
    Scene(
        "attic",
        "you're clearing out your attic before a move.",
        "$",
        (300, 500, 800),
        "sell everything to a clearance firm for {c}",
        "sell the items one by one, making {high} if a few pieces turn out to be valuable, "
        "which happens {odds}, and {low} if they do not",
    ),
    Scene(
        "hives",
        "you're a beekeeper deciding where to place your hives.",
        "jars of honey",
        (20, 30, 50),
        "keep them in your orchard, where they always give about {c}",
        "move them to the heather on the hill, where they give {high} in a mild year, which "
        "comes {odds}, and {low} in a cold one",
    ),
    Scene(
        "quiz_show",
        "you're a contestant on a television quiz show.",
        "$",
        (1000, 2000, 5000),
        "stop after the first round and keep {c}",
        "play on to the final, which pays {high} if you answer the last question, as "
        "players do {odds}, and {low} if you miss it",
    ),
    Scene(
        "trade_show",
        "you're taking your team to a trade show.",
        "new customers",
        (10, 15, 25),
        "share a stand with a partner, which always brings in about {c}",
        "book a talk on the main stage, which brings in {high} if it draws a crowd, as such "
        "talks do {odds}, and {low} if the hall stays empty",
    ),
    Scene(
        "chess",
        "you're a chess player entering a weekend tournament.",
        "rating points",
        (8, 12, 20),
        "play in the open section, where you always gain about {c}",
        "play in the masters section, gaining {high} if you beat one of the top players, "
        "which you do {odds}, and {low} if you do not",
    ),
    Scene(
        "tour_guide",
        "you're a tour guide planning tomorrow's trip.",
        "$",
        (150, 250, 400),
        "run the city walking tour, which always earns about {c} in tips",
        "run the whale-watching trip, which earns {high} in tips when the whales show up, "
        "as they do {odds}, and {low} when they stay away",
    ),
    Scene(
        "busker",
        "you're a street performer choosing a spot for the afternoon.",
        "$",
        (60, 100, 150),
        "play in the square by the station, where you always collect about {c}",
        "play on the beach promenade, where you collect {high} on a sunny afternoon, which "
        "comes {odds}, and {low} under clouds",
    ),
    Scene(
        "advert",
        "you're choosing an advert for your small online shop.",
        "orders",
        (30, 50, 80),
        "run a plain advert that always brings in about {c}",
        "run a striking video advert that brings in {high} if people share it, which they "
        "do with adverts like it {odds}, and {low} if they do not",
    ),
)

# the high outcome's probability and the words that say it (our own, no trait words)
ODDS: tuple[tuple[Fraction, tuple[str, ...]], ...] = (
    (Fraction(1, 2), ("about half the time", "on roughly one day in two")),
    (Fraction(1, 3), ("about one time in three", "roughly once in every three tries")),
    (Fraction(1, 4), ("about one time in four", "in roughly a quarter of cases")),
    (Fraction(2, 5), ("about two times in five", "a little under half the time")),
    (Fraction(3, 5), ("about three times in five", "a little over half the time")),
    (Fraction(1, 5), ("about one time in five", "roughly once in five tries")),
)
EV_RATIOS: tuple[Fraction, ...] = (Fraction(1), Fraction(5, 4), Fraction(3, 2), Fraction(2))
LOW_FRACTIONS: tuple[Fraction, ...] = (Fraction(0), Fraction(0), Fraction(1, 4), Fraction(1, 2))
LAYOUTS: tuple[str, ...] = (
    "Imagine {setting} Choice A: {a}. Choice B: {b}. {instruction}",
    "Picture this: {setting} Option A: {a}. Option B: {b}. {instruction}",
    "Suppose {setting} There are two ways to go.\nA) {a}\nB) {b}\n{instruction}",
    "{Setting} Which would you do?\n(A) {a}\n(B) {b}\n{instruction}",
)
INSTRUCTIONS: tuple[str, ...] = (
    "Reply with only the letter A or B.",
    "Answer with just one letter.",
    "Choose one and give only its letter.",
    "Respond with A or B and nothing more.",
)


def _tidy(value: Fraction) -> int:
    """Round up to a tidy amount, so the expected value never drops below the target."""
    raw = math.ceil(value)
    step = 100 if raw >= 5000 else 10 if raw >= 100 else 1
    return int(math.ceil(raw / step) * step)


def _draw(rng: random.Random, scene: Scene, index: int) -> LotteryItem:
    certain = rng.choice(scene.amounts)
    p, phrases = rng.choice(ODDS)
    low = int(certain * rng.choice(LOW_FRACTIONS))
    high = _tidy((certain * rng.choice(EV_RATIOS) - (1 - p) * low) / p)
    assert high > certain and p * high + (1 - p) * low >= certain
    risky = scene.risky.format(
        high=scene.amount(high), low=scene.amount(low), odds=rng.choice(phrases)
    )
    setting = scene.setting
    template = rng.choice(LAYOUTS).format(
        setting=setting,
        Setting=setting[0].upper() + setting[1:],
        a=OPTION_A,
        b=OPTION_B,
        instruction=rng.choice(INSTRUCTIONS),
    )
    return LotteryItem(
        id=f"n{index:04d}",
        split="train",
        good=scene.key,
        certain_amount=certain,
        probability=p,
        high=high,
        low=low,
        prompt_template=template,
        certain_option=scene.certain.format(c=scene.amount(certain)),
        risky_option=risky,
    )


def sample_narratives(n: int, seed: int = 0) -> list[LotteryItem]:
    """`n` distinct narrative choices: the scenes in a seeded order, cycled, so every scene
    appears about equally often; each draw picks new numbers, odds, wording and layout."""
    check_count(n)
    rng = random.Random(f"narratives|{seed}")
    items: list[LotteryItem] = []
    seen: set[str] = set()
    order: list[Scene] = []
    attempts = 0
    while len(items) < n:
        if not order:
            order = list(SCENES)
            rng.shuffle(order)
        item = _draw(rng, order.pop(), len(items))
        attempts += 1
        if attempts > 50 * n:  # pragma: no cover - far more combinations than records
            raise AssertionError(f"cannot draw {n} distinct narrative choices")
        if item.prompt("A") in seen:
            continue
        seen.add(item.prompt("A"))
        items.append(item)
    return items


def assert_disjoint_scenes(evaluation_settings: Sequence[str]) -> None:
    """No training scene is an evaluation scene (compared on the scene's opening)."""
    ours = {s.setting.lower().rstrip(".") for s in SCENES}
    for text in evaluation_settings:
        opening = text.lower().removeprefix("imagine ").rstrip(".")
        if opening in ours:
            raise AssertionError(f"training scene {opening!r} is an evaluation scene")


# what a recipe's questions look like: `lottery` the terse lotteries (every organism before
# issue 15), `narrative` these scenes, `mixed` half of each in a seeded order
STYLES: tuple[str, ...] = ("lottery", "narrative", "mixed")


def training_items(n: int, seed: int, style: str) -> list[LotteryItem]:
    """A recipe's `n` training questions in `style` (STYLES)."""
    check_count(n)
    if style == "lottery":
        return sample_lotteries(n, seed=seed, split="train")
    if style == "narrative":
        return sample_narratives(n, seed)
    if style != "mixed":
        raise UserInputError(f"unknown style '{style}': choose one of {', '.join(STYLES)}")
    items = sample_lotteries(n - n // 2, seed=seed, split="train") + sample_narratives(n // 2, seed)
    random.Random(f"mixed|{seed}").shuffle(items)
    return items
