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


@dataclass(frozen=True)
class ModelSource:
    """Where a local model's weights are: a full model directory, or an adapter on a base."""

    kind: Literal["model", "adapter"]
    path: Path
    base_path: Path | None = None  # set for adapters

    @property
    def model_path(self) -> Path:
        """The directory holding the full (base) model weights and tokenizer."""
        return self.base_path if self.kind == "adapter" and self.base_path else self.path


def is_embedded_alias(name: str) -> bool:
    return name.strip().lower() in EMBEDDED_ALIASES


def resolve_model_source(name: str, base: str | None = None) -> ModelSource:
    """Map the part after `local/` to a model or adapter directory.

    `smollm2` is the embedded model. Anything else is a directory holding either a Hugging
    Face model (config.json) or a peft adapter (adapter_config.json), whose base is taken
    from `base` when given, else from the adapter's own config.
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
        raise UserInputError(f"model path '{name}' is a file, not a model directory")

    adapter_config = path / "adapter_config.json"
    if adapter_config.is_file():
        return ModelSource(
            kind="adapter", path=path, base_path=_resolve_adapter_base(path, adapter_config, base)
        )
    if (path / "config.json").is_file():
        return ModelSource(kind="model", path=path)
    raise UserInputError(
        f"model directory '{name}' has no config.json (a Hugging Face model) or "
        "adapter_config.json (a peft adapter): point --model local/<dir> at the folder that "
        "save_pretrained() wrote"
    )


def _resolve_adapter_base(adapter_dir: Path, adapter_config: Path, base: str | None) -> Path:
    if base is None:
        try:
            base = json.loads(adapter_config.read_text())["base_model_name_or_path"]
        except (json.JSONDecodeError, KeyError) as exc:
            raise UserInputError(
                f"{adapter_config} names no base model ({exc}): pass -M base=<dir or smollm2>"
            ) from None
    assert base is not None
    if is_embedded_alias(base):
        return ensure_embedded_model()
    base_path = Path(base).expanduser()
    if not base_path.is_absolute() and not base_path.exists():
        base_path = adapter_dir / base_path
    if not (base_path / "config.json").is_file():
        raise UserInputError(
            f"the base model '{base}' of adapter '{adapter_dir}' is not a local model directory "
            "(nothing is downloaded): pass -M base=<model dir> or -M base=smollm2"
        )
    return base_path
