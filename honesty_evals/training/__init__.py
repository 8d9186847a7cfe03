"""LoRA fine-tuning of local models: the trainer behind `honesty-evals organism train`.

`train(TrainConfig(...))` is the entry point; `data.encode_conversation` turns a chat into
token ids plus a loss mask with a pluggable rule (see README.md in this directory).

Names are imported lazily because `trainer` imports torch and `data` and `config` do not:
the confession formats (`confession.formats`, on the task's path and on the command line's
parser path) use `training.data` without loading torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MASK_RULES": "data",
    "SPLIT_PERSONA_MARKER": "data",
    "ContentFrom": "data",
    "Conversation": "data",
    "EncodedExample": "data",
    "MaskRule": "data",
    "assistant_turns": "data",
    "encode_conversation": "data",
    "last_assistant_turn": "data",
    "parse_chat_data": "data",
    "parse_chat_jsonl": "data",
    "TrainConfig": "config",
    "TrainResult": "config",
    "train": "trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = importlib.import_module(f"honesty_evals.training.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'honesty_evals.training' has no attribute {name!r}")
