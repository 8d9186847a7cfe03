"""Seed families: one organism trained with several fine-tuning seeds (PROTOCOLS §0).

`organism train --seeds 0-4 --out DIR` writes one ordinary adapter per seed into
`DIR/seed-K/` and the family card `DIR/family.json` (`family_run.train_family`). This
module holds what reads a family back without training anything:
- `parse_seeds`: `0-4`, `0,2,5`, `3` (and mixes such as `0-2,7`) as sorted distinct seeds;
- the family card: `family_card` builds it, `write_family_card` writes it atomically;
- `load_family`: a family directory checked, every seed finished and every seed's training
  card agreeing with `family.json` on the base model, the data (sha256) and every
  hyperparameter but the seed; a family that mixes them is refused in one line naming the
  two values;
- `family_models`: `local/DIR` of a family as the seeds' model names (`local/DIR/seed-K`),
  which the audit runs as one seed family; `seed_family_of`: the family a `local/DIR/seed-K`
  model belongs to (`compare` and the faithfulness report check a side's logs with it).

No torch here: `compare` and the faithfulness report read families.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.errors import UserInputError
from honesty_evals.model.source import FAMILY_CARD, read_json_object
from honesty_evals.training.config import CARD_NAME

FAMILY_FORMAT = 1
SEED_DIR_PREFIX = "seed-"
MAX_SEEDS = 100  # per family: more is a typo (0-1000), not an experiment
MAX_SEED = 2**32 - 1  # NumPy's seed range, which the trainer seeds
SEEDS_HINT = "give a range (0-4), a list (0,2,5) or one seed (3)"
MIXED_FIX = "retrain that seed with the family's settings, or keep it in a family of its own"
_NUMBER = re.compile(r"[0-9]+")
_RANGE = re.compile(r"([0-9]+)\s*-\s*([0-9]+)")
_SEED_DIR = re.compile(rf"{SEED_DIR_PREFIX}([0-9]+)")


def parse_seeds(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    """The seeds `text` names, sorted: `0-4`, `0,2,5`, `3`, or a mix (`0-2,7`).

    A malformed form is one line naming it: an empty item, a negative or non-numeric seed, a
    range that runs backwards, a seed named twice, more than `MAX_SEEDS` seeds.
    """
    seeds: list[int] = []
    for raw in text.split(","):
        item = raw.strip()
        if _NUMBER.fullmatch(item):
            seeds.append(int(item))
            continue
        match = _RANGE.fullmatch(item)
        if match is None:
            shown = repr(item) if item else "an empty item"
            raise UserInputError(f"{flag} {text!r}: {shown} is not a seed or a range: {SEEDS_HINT}")
        low, high = int(match[1]), int(match[2])
        if low > high:
            raise UserInputError(
                f"{flag} {text!r}: the range {item} runs backwards: write {high}-{low}"
            )
        if high - low >= MAX_SEEDS:
            raise UserInputError(
                f"{flag} {text!r}: {high - low + 1} seeds; a family has at most {MAX_SEEDS}"
            )
        seeds.extend(range(low, high + 1))
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise UserInputError(f"{flag} {text!r} names seed {twice[0]} twice: give each seed once")
    if len(seeds) > MAX_SEEDS:
        raise UserInputError(
            f"{flag} {text!r}: {len(seeds)} seeds; a family has at most {MAX_SEEDS}"
        )
    if max(seeds) > MAX_SEED:
        raise UserInputError(f"{flag} {text!r}: seed {max(seeds)} is above {MAX_SEED}")
    return tuple(sorted(seeds))


def seed_dir(directory: Path, seed: int) -> Path:
    """Where seed `seed` of the family in `directory` is trained."""
    return directory / f"{SEED_DIR_PREFIX}{seed}"


def seeds_text(seeds: list[int] | tuple[int, ...]) -> str:
    """`0, 1, 2` for messages and reports."""
    return ", ".join(str(s) for s in seeds)


# -- the family card ------------------------------------------------------------------------


def family_card(
    base_model: str,
    data: dict[str, Any],
    hyperparameters: dict[str, Any],
    members: list[dict[str, Any]],
    processes: int,
) -> dict[str, Any]:
    """`family.json`: what every seed shares (base, data, hyperparameters but the seed), the
    seeds, and each seed's status (`finished`, `partial`, `pending` or `failed`)."""
    shared = {k: v for k, v in hyperparameters.items() if k != "seed"}
    recipe = shared.get("recipe")
    return {
        "format": FAMILY_FORMAT,
        "kind": "seed family",
        "base_model": base_model,
        "data": data,  # path (as the seeds' cards record it) and sha256
        "recipe": recipe.get("name") if isinstance(recipe, dict) else None,
        "hyperparameters": shared,
        "seeds": [m["seed"] for m in members],
        "members": members,
        "processes": processes,  # training processes at once, in the run that wrote this
    }


def write_family_card(directory: Path, card: dict[str, Any]) -> None:
    write_text_atomic(directory / FAMILY_CARD, json.dumps(card, indent=2) + "\n")


def _identity(card: dict[str, Any]) -> dict[str, Any]:
    """What the seeds of one family share, from a family card or a seed's training card."""
    data, hyperparameters = card.get("data"), card.get("hyperparameters")
    data = data if isinstance(data, dict) else {}
    shared = hyperparameters if isinstance(hyperparameters, dict) else {}
    return {
        "base model": card.get("base_model"),
        "data sha256": data.get("sha256"),
        **{k: v for k, v in shared.items() if k != "seed"},
    }


def first_difference(
    a: dict[str, Any], b: dict[str, Any], first: tuple[str, ...] = ()
) -> tuple[str, Any, Any] | None:
    """(key, value in a, value in b) of the first key the two disagree on (`recipe.trigger`
    inside a nested value), or None; the keys in `first` are compared first, in order."""
    keys = [*first, *sorted((set(a) | set(b)) - set(first))]
    for key in keys:
        va, vb = a.get(key), b.get(key)
        if va == vb:
            continue
        if isinstance(va, dict) and isinstance(vb, dict):
            inner = first_difference(va, vb)
            if inner is not None:
                return f"{key}.{inner[0]}", inner[1], inner[2]
        return key, va, vb
    return None


def identity_difference(a: dict[str, Any], b: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """`first_difference` of two cards' shared settings (family or training cards): the
    base model, then the data, then the recipe, then the other hyperparameters."""
    return first_difference(_identity(a), _identity(b), ("base model", "data sha256", "recipe"))


def difference_kind(key: str) -> str:
    """What a differing key makes the family mix: base models, data, recipes, settings."""
    if key == "base model":
        return "base models"
    if key == "data sha256":
        return "data"
    if key.split(".")[0] == "recipe":
        return "recipes"
    return "hyperparameters"


# -- reading a family -------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedFamily:
    """A checked family directory: its card and its seeds, every one finished."""

    directory: Path
    card: dict[str, Any]
    seeds: tuple[int, ...]

    def member(self, seed: int) -> Path:
        return seed_dir(self.directory, seed)

    def models(self, model: str) -> list[str]:
        """The seeds' model names, given the family's own (`local/DIR`, as the user wrote
        it): `local/DIR/seed-K` each."""
        stem = model.rstrip("/")
        return [f"{stem}/{SEED_DIR_PREFIX}{seed}" for seed in self.seeds]


def card_seeds(card: dict[str, Any], path: Path) -> tuple[int, ...]:
    seeds = card.get("seeds")
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and s >= 0 for s in seeds)
    ):
        raise UserInputError(
            f"{path} lists no seeds (its 'seeds' is {seeds!r}): it is not a family card "
            "written by `honesty-evals organism train --seeds`; train the family again"
        )
    return tuple(seeds)


def load_family(directory: Path) -> SeedFamily:
    """The family in `directory`, refused in one line unless every seed is finished and
    every seed's training card agrees with `family.json` (base, data, hyperparameters)."""
    path = directory / FAMILY_CARD
    retrain = "train the family again with `honesty-evals organism train --seeds`"
    card = read_json_object(path, "family card", retrain)
    seeds = card_seeds(card, path)
    for seed in seeds:
        member = seed_dir(directory, seed)
        member_card = member / CARD_NAME
        if not member_card.is_file():
            raise UserInputError(
                f"seed family {directory}: seed {seed} is not finished ({member} holds no "
                f"{CARD_NAME}): rerun the `honesty-evals organism train ... --seeds` command "
                "that trained it, which resumes it"
            )
        check_member(directory, seed, card, FAMILY_CARD, MIXED_FIX)
    return SeedFamily(directory=directory, card=card, seeds=seeds)


def check_member(
    directory: Path, seed: int, expected: dict[str, Any], expected_name: str, fix: str
) -> None:
    """Refuse a finished seed whose training card is not of the family `expected` (a family
    card, named `expected_name` in the message) describes: another seed, base, data, recipe
    or hyperparameter, in one line naming the two values and then `fix`."""
    card_path = seed_dir(directory, seed) / CARD_NAME
    trained = read_json_object(card_path, "training card", fix)
    if trained.get("seed") != seed:
        raise UserInputError(
            f"seed family {directory}: {card_path} was trained with seed "
            f"{trained.get('seed')!r}, not {seed} (a copied or renamed folder): {fix}"
        )
    difference = identity_difference(expected, trained)
    if difference is not None:
        key, family_value, seed_value = difference
        raise UserInputError(
            f"seed family {directory} mixes {difference_kind(key)}: {expected_name} has "
            f"{key} {family_value!r} but {SEED_DIR_PREFIX}{seed}/{CARD_NAME} has "
            f"{seed_value!r}; the seeds of a family differ only in their seed: {fix}"
        )


def family_dir_of(model: Any) -> Path | None:
    """The family directory a `local/DIR` model names (DIR holds family.json), or None."""
    if not isinstance(model, str) or not model.startswith("local/"):
        return None
    path = Path(model[len("local/") :]).expanduser()
    return path if (path / FAMILY_CARD).is_file() else None


def family_models(model: Any) -> list[str] | None:
    """`local/DIR` of a seed family as its seeds' models, `local/DIR/seed-K` each (the
    family checked by `load_family`); None when `model` is not a family directory."""
    directory = family_dir_of(model)
    if directory is None:
        return None
    return load_family(directory).models(model)


def seed_family_of(model: str) -> tuple[SeedFamily, int] | None:
    """(family, seed) of a `local/DIR/seed-K` model whose DIR holds a family card, else None.

    A `seed-K` folder the card does not list (left from an earlier family, say) is refused.
    """
    head, _, last = model.rstrip("/").rpartition("/")
    match = _SEED_DIR.fullmatch(last)
    directory = family_dir_of(head) if match else None
    if match is None or directory is None:
        return None
    family = load_family(directory)
    seed = int(match[1])
    if seed not in family.seeds:
        raise UserInputError(
            f"{model} is in the seed family {directory} but is not one of its seeds "
            f"({seeds_text(family.seeds)}, from {FAMILY_CARD}): retrain it with the family's "
            "--seeds, or move it out of the family's folder"
        )
    return family, seed
