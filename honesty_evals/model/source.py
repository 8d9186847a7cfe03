"""Resolve a `local/<name>` model name to files on disk, without touching any hub."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from honesty_evals.errors import UserInputError
from honesty_evals.model.embedded import EMBEDDED_MODEL_NAME, ensure_embedded_model

# Hub ids that name the embedded model: an adapter trained elsewhere on the same base
# records one of these, and we serve it from the embedded copy instead of downloading.
EMBEDDED_ALIASES = {
    EMBEDDED_MODEL_NAME,
    "smollm2-135m-instruct",
    "huggingfacetb/smollm2-135m-instruct",
}
# how many adapters may stack (an adapter over an organism over an organism ...): a deeper
# chain is far more likely a mistake than a model
MAX_ADAPTER_CHAIN = 4
# a seed family's card (`organism train --seeds`): its folder holds one adapter per seed in
# seed-K/, so it is several models, which one provider instance cannot be
FAMILY_CARD = "family.json"


@dataclass(frozen=True)
class ModelSource:
    """Where a local model's weights are: a full model directory, or an adapter on a base.

    An adapter may have been trained over another adapter (an organism, issue 16): then
    `stacked_on` holds the adapters under it, innermost first, and the model is `base_path`
    with each of them merged in order, then `path`'s adapter on top (`adapters`).
    """

    kind: Literal["model", "adapter"]
    path: Path
    base_path: Path | None = None  # set for adapters: the full model at the bottom
    stacked_on: tuple[Path, ...] = ()  # adapters between base_path and path, innermost first

    @property
    def model_path(self) -> Path:
        """The directory holding the full (base) model weights and tokenizer."""
        return self.base_path if self.kind == "adapter" and self.base_path else self.path

    @property
    def adapters(self) -> tuple[Path, ...]:
        """The adapter folders applied to `model_path`, in order (`path`'s last); none for a
        full model."""
        return (*self.stacked_on, self.path) if self.kind == "adapter" else ()


def is_embedded_alias(name: str) -> bool:
    return name.strip().lower() in EMBEDDED_ALIASES


def resolve_model_source(
    name: str, base: str | None = None, base_flag: str | None = "-M base"
) -> ModelSource:
    """Map the part after `local/` to a model or adapter directory.

    `smollm2` is the embedded model. Anything else is a directory holding either a Hugging
    Face model (config.json) or a peft adapter (adapter_config.json). An adapter's base is
    the one its own config records; a base that is itself an adapter folder (an organism) is
    followed down to a full model (`ModelSource.stacked_on`), and `base`, when given,
    replaces the innermost adapter's base (the full model). The folders are diagnosed before
    anything loads: a half-copied model or a corrupt config is one line naming the file
    (`base_flag` is how the calling command spells the base-model option; None where there
    is no such option).
    """
    if is_embedded_alias(name):
        return ModelSource(kind="model", path=ensure_embedded_model())

    path = Path(name).expanduser()
    if not path.exists():
        raise UserInputError(
            f"model directory '{name}' does not exist: use --model local/{EMBEDDED_MODEL_NAME} "
            "for the embedded model, or local/<path to a Hugging Face model or peft adapter "
            "directory> (use local//abs/path for an absolute path)"
        )
    if not path.is_dir():
        raise UserInputError(
            f"model path '{name}' is a file, not a model directory: point --model "
            "local/<dir> at the folder that save_pretrained() wrote"
        )

    adapter_config = path / "adapter_config.json"
    if (path / FAMILY_CARD).is_file() and not adapter_config.is_file():
        raise UserInputError(
            f"model directory '{name}' is a seed family ({FAMILY_CARD}: one adapter per "
            f"fine-tuning seed in seed-K/), which is several models: audit it with "
            f"`honesty-evals audit --model local/{name}` (every seed runs), or evaluate one "
            f"seed as local/{name.rstrip('/')}/seed-K"
        )
    if adapter_config.is_file():
        check_adapter_files(path)  # its own files first: the base may need converting
        stacked_on, base_path = _resolve_adapter_chain(path, base, base_flag)
        return ModelSource(kind="adapter", path=path, base_path=base_path, stacked_on=stacked_on)
    if (path / "config.json").is_file():
        diagnose_model_dir(path)
        return ModelSource(kind="model", path=path)
    raise UserInputError(
        f"model directory '{name}' has no config.json (a Hugging Face model) or "
        "adapter_config.json (a peft adapter): point --model local/<dir> at the folder that "
        "save_pretrained() wrote"
    )


def read_json_object(path: Path, what: str, fix: str) -> dict:
    """A JSON object file of a model folder; a corrupt one is one line naming it."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise UserInputError(f"{path} is not UTF-8 text, so not a valid {what}: {fix}") from None
    except json.JSONDecodeError as exc:
        raise UserInputError(
            f"{path} is corrupt: not valid JSON at line {exc.lineno}, column {exc.colno} "
            f"({exc.msg}), so not a valid {what}: {fix}"
        ) from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path} is not a JSON object, so not a valid {what}: {fix}")
    return data


WEIGHT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "*.gguf")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")
ADAPTER_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
# what the trainer writes beside an adapter (`training.card.CARD_NAME`; the trainer sits above
# this package, so the name lives here)
TRAINING_CARD_NAME = "training_card.json"


def diagnose_model_dir(path: Path) -> None:
    """Refuse a Hugging Face model folder that cannot load, naming the file at fault: a
    corrupt config.json, no weights (or a shard its index lists), no tokenizer."""
    fix = "copy the whole folder again, or save the model again with save_pretrained()"
    read_json_object(path / "config.json", "model config", fix)
    weights = [w for pattern in WEIGHT_PATTERNS for w in path.glob(pattern)]
    if not weights:
        raise UserInputError(
            f"model folder '{path}' has config.json but no weights (model.safetensors or "
            f"pytorch_model.bin): the copy looks incomplete: {fix}"
        )
    for index in path.glob("*.index.json"):
        listed = read_json_object(index, "weight index", fix).get("weight_map", {})
        missing = sorted({f for f in listed.values() if not (path / f).is_file()})
        if missing:
            raise UserInputError(
                f"model folder '{path}' lacks {missing[0]}"
                + (f" and {len(missing) - 1} more shard(s)" if len(missing) > 1 else "")
                + f", listed in {index.name}: {fix}"
            )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise UserInputError(
            f"model folder '{path}' has no tokenizer (tokenizer.json, tokenizer.model or "
            "vocab.json): copy the tokenizer files too, or save the tokenizer with "
            "tokenizer.save_pretrained() into that folder"
        )


def adapter_weights_file(adapter_dir: Path) -> Path:
    """The weights file of a peft adapter folder (diagnosed: none is one line)."""
    check_adapter_files(adapter_dir)
    return next(adapter_dir / n for n in ADAPTER_WEIGHT_FILES if (adapter_dir / n).is_file())


def check_adapter_files(adapter_dir: Path) -> None:
    if not any((adapter_dir / name).is_file() for name in ADAPTER_WEIGHT_FILES):
        raise UserInputError(
            f"adapter folder '{adapter_dir}' has adapter_config.json but no adapter weights "
            "(adapter_model.safetensors): the copy looks incomplete, or training did not "
            "finish: copy it again or retrain"
        )


def _resolve_adapter_chain(
    top: Path, base: str | None, base_flag: str | None
) -> tuple[tuple[Path, ...], Path]:
    """(the adapters under `top`, innermost first; the full model at the bottom), following
    each adapter's recorded base while it is another adapter folder. A cycle, or more than
    MAX_ADAPTER_CHAIN adapters, is one line."""
    chain = [top]
    current = top
    while True:
        recorded = _recorded_base(current, base_flag if base is None else None)
        link = _adapter_link(current, recorded) if recorded is not None else None
        if link is None:
            base_path = _full_model_base(current, base or recorded, base_flag)
            return tuple(reversed(chain[1:])), base_path
        seen = {p.resolve() for p in chain}
        if link.resolve() in seen:
            raise UserInputError(
                f"adapter '{current}' is trained over '{link}', which is already in its chain "
                f"({' -> '.join(str(p) for p in chain)}): a cycle; set base_model_name_or_path "
                "in one of their adapter_config.json files to the full model"
            )
        if len(chain) >= MAX_ADAPTER_CHAIN:
            raise UserInputError(
                f"adapter '{top}' stacks more than {MAX_ADAPTER_CHAIN} adapters "
                f"({' -> '.join(str(p) for p in [*chain, link])} -> ...): merge some of "
                "them into a model folder first"
            )
        check_adapter_files(link)
        chain.append(link)
        current = link


def _recorded_base(adapter_dir: Path, base_flag: str | None) -> str | None:
    """The base model an adapter's config records; with `base_flag`, a config that records
    none is one line (without, the caller has a base of its own to use)."""
    config = read_json_object(
        adapter_dir / "adapter_config.json",
        "adapter config",
        "copy the adapter folder again, or retrain it",
    )
    recorded = config.get("base_model_name_or_path")
    if isinstance(recorded, str) and recorded.strip():
        return recorded
    if base_flag is None:
        return None
    raise UserInputError(
        f"{adapter_dir / 'adapter_config.json'} names no base model (no "
        f"base_model_name_or_path): pass {base_flag}=<model dir or smollm2>"
    )


def _base_candidate(adapter_dir: Path, base: str) -> Path:
    """Where a recorded base points: a path as given, else relative to the adapter."""
    base_path = Path(base).expanduser()
    if not base_path.is_absolute() and not base_path.exists():
        base_path = adapter_dir / base_path
    return base_path


def _adapter_link(adapter_dir: Path, recorded: str) -> Path | None:
    """The adapter folder an adapter was trained over, or None when its base is not one."""
    if is_embedded_alias(recorded):
        return None
    candidate = _base_candidate(adapter_dir, recorded)
    return candidate if (candidate / "adapter_config.json").is_file() else None


def _full_model_base(adapter_dir: Path, base: str | None, base_flag: str | None) -> Path:
    """The full model at the bottom of an adapter chain, diagnosed."""
    if base is None:  # only without a base flag: there is nothing to pass
        raise UserInputError(
            f"{adapter_dir / 'adapter_config.json'} names no base model (no "
            "base_model_name_or_path): retrain that adapter, or write its base model's "
            "folder into that field"
        )
    if is_embedded_alias(base):
        return ensure_embedded_model()
    base_path = _base_candidate(adapter_dir, base)
    if not (base_path / "config.json").is_file():
        fix = (
            f"pass {base_flag}=<model dir> or {base_flag}=smollm2"
            if base_flag
            else "put that model there, or write its folder into base_model_name_or_path "
            f"in {adapter_dir / 'adapter_config.json'}"
        )
        raise UserInputError(
            f"the base model '{base}' of adapter '{adapter_dir}' is not a local model "
            f"directory (nothing is downloaded): {fix}"
        )
    diagnose_model_dir(base_path)
    return base_path
