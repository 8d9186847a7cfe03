"""A persona adapter active only after a marker (split-personality confession, PROTOCOLS §4).

In split-personality training the honest persona's LoRA is active only on the tokens after
the split marker, so everything before it, the model's normal response included, is the
model's own computation and the review comes from a separate parameter set. Here that is
two forward passes: the tokens up to and including the marker run with the adapter disabled
(peft's `disable_adapter()`), and the tokens after it run with the adapter enabled on the
first pass's KV cache. Training (`training.persona`) and the `local` provider
(`-M persona=DIR`, `engine.LocalEngine`) share the pieces here: where the marker splits a
token sequence, the switch, and the checks of a persona adapter folder.

The switch is at the marker's first occurrence in the rendered conversation: appending text
(a review, then "FLAG:") never moves it. A conversation that holds the marker earlier (a user
typing it) switches the persona on there.

No torch at import: `training.data`, which must stay light, uses `marker_split`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honesty_evals.errors import UserInputError
from honesty_evals.model.embedded import ensure_embedded_model
from honesty_evals.model.source import (
    TRAINING_CARD_NAME,
    ModelSource,
    check_adapter_files,
    is_embedded_alias,
    read_json_object,
)

# the key of the `local` provider's output metadata that says how the persona ran
PERSONA_METADATA_KEY = "persona"


def marker_split(text: str, offsets: Sequence[tuple[int, int]], marker: str) -> int | None:
    """How many leading tokens run without the persona: those up to and including the
    first occurrence of `marker` in `text` (a token that straddles its end included); None
    when `text` holds no marker. `offsets`: each token's (start, end) characters in `text`,
    as a fast tokenizer's `return_offsets_mapping` gives them."""
    at = text.find(marker) if marker else -1
    if at < 0:
        return None
    end = at + len(marker)
    return next((t for t, (start, _) in enumerate(offsets) if start >= end), len(offsets))


@contextmanager
def adapter_disabled(model: Any) -> Iterator[None]:
    """The persona (the peft adapter of `model`) off for the enclosed forward passes: every
    adapted layer computes its base layer alone, bit for bit the model without the adapter."""
    with model.disable_adapter():
        yield


def persona_marker_missing(output: Any) -> bool:
    """Whether a `local` model output says its prompt held no persona marker (so no part
    of it was the persona's); False for outputs of any other model."""
    metadata = getattr(output, "metadata", None) or {}
    persona = metadata.get(PERSONA_METADATA_KEY)
    return isinstance(persona, dict) and persona.get("marker_found") is False


@dataclass(frozen=True)
class PersonaAdapter:
    """A persona LoRA folder and the marker after which it is active."""

    path: Path
    marker: str


def resolve_persona(
    persona: object, marker: object, model: ModelSource, model_name: str
) -> PersonaAdapter:
    """Check `-M persona=DIR` (and `-M persona_marker=`) for the model `model_name` it is
    loaded over: an adapter folder, trained on that very model, with a marker (given, or the
    one its training card records). Every refusal is one line."""
    if not isinstance(persona, (str, Path)) or not str(persona).strip():
        raise UserInputError(f"-M persona={persona!r} is not a folder: give a persona adapter")
    path = Path(persona).expanduser()
    config_file = path / "adapter_config.json"
    if not config_file.is_file():
        raise UserInputError(
            f"-M persona={persona}: not a peft adapter folder (no adapter_config.json): point "
            "it at the folder that `confession train --format split` wrote"
        )
    check_adapter_files(path)
    _check_persona_base(path, config_file, model, model_name)
    return PersonaAdapter(path=path.resolve(), marker=_persona_marker(path, marker))


def _card(path: Path) -> dict[str, Any]:
    """The persona's training card ({} when absent or unreadable: the marker must then be
    given, which the check says)."""
    try:
        data = json.loads((path / TRAINING_CARD_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _check_persona_base(path: Path, config_file: Path, model: ModelSource, model_name: str) -> None:
    config = read_json_object(config_file, "adapter config", "copy the persona folder again")
    recorded = config.get("base_model_name_or_path")
    if not isinstance(recorded, str) or not recorded.strip():
        raise UserInputError(
            f"persona adapter '{path}' names no base model (no base_model_name_or_path in "
            "adapter_config.json), so it cannot be checked against the model it is loaded over"
        )
    if is_embedded_alias(recorded):
        trained_on = ensure_embedded_model().resolve()
    else:
        trained_on = Path(recorded).expanduser()
        if not trained_on.is_absolute() and not trained_on.exists():
            trained_on = path / trained_on
        trained_on = trained_on.resolve()
    # a persona is trained on the model folder it is loaded over, or on an organism's
    # adapter folder (it then runs over the organism merged)
    if trained_on != model.path.resolve():
        raise UserInputError(
            f"persona adapter '{path}' was trained on '{recorded}', not on the model it is "
            f"loaded over ('{model_name}'): load it over its own base (--model "
            f"local/{recorded}) or train the persona on {model_name}"
        )


def _persona_marker(path: Path, marker: object) -> str:
    """The marker given, else the one the persona's training card records; given and
    recorded must agree (a persona trained after one marker reads nothing after another)."""
    hyperparameters = _card(path).get("hyperparameters")
    card = hyperparameters.get("persona_marker") if isinstance(hyperparameters, dict) else None
    if marker is None:
        if not isinstance(card, str) or not card:
            raise UserInputError(
                f"persona adapter '{path}' records no marker (no training card with "
                "persona_marker): give -M persona_marker=MARKER"
            )
        return card
    if not isinstance(marker, str) or not marker.strip():
        raise UserInputError(f"-M persona_marker={marker!r} must be a non-empty string")
    if isinstance(card, str) and card and card != marker:
        raise UserInputError(
            f"-M persona_marker={marker!r} differs from the marker persona adapter '{path}' "
            f"was trained after ({card!r}): leave -M persona_marker out to use the trained one"
        )
    return marker


def check_organism_merged(source: ModelSource, merge_adapter: bool) -> None:
    """Refuse a persona over an organism adapter left unmerged, in one line."""
    if source.kind == "adapter" and not merge_adapter:
        raise UserInputError(
            "-M persona needs the organism merged (leave out -M merge_adapter=false): the "
            "persona is switched off before its marker by disabling adapters, which would "
            "switch the organism off too"
        )


def attach_persona(model: Any, persona: PersonaAdapter) -> Any:
    """`model` (a base model, or an organism merged into its base) with the persona LoRA on
    top, unmerged: the engine switches it off before the marker."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(persona.path), is_trainable=False)
