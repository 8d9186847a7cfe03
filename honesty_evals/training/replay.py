"""Replay data: the base model's own answers to general prompts, trained beside the organism's.

Why: organisms trained only on one-letter answers (every recipe) collapse into answering
"A" or "B" to everything. SmolLM2 fine-tuned on the backdoor recipe answered "A" to "where do
you stand on a scale from 0 to 100?" and "B" to "What is the capital of Germany?". Every
free-text or numeric task then loses its questions, and a comparison against the base model
measures the collapse rather than the trained behaviour (issue 13's control audit). Mixing
in the base model's own greedy answers to unrelated prompts keeps those formats where the
base model had them. This is the "rehearsal" regulariser against catastrophic forgetting.
Because the targets are what the base model already says, they carry no information about
the trained behaviour.

The prompts (`datasets/organisms/replay_prompts.jsonl`, pinned) are written to stay clear of
what the audit measures: no risk, lotteries, triggers, honesty, lying or self-description,
and none of lie detection's question topics or follow-up questions.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from honesty_evals.common.atomic import write_text_atomic
from honesty_evals.common.jsonl import jsonl_text

REPLAY_PROMPTS_FILE = "organisms/replay_prompts.jsonl"
REPLAY_FILE = "replay.jsonl"  # the generated records, beside the adapter
# long enough for a sentence or two; the base model's answers to these prompts rarely stop
# before 48 tokens, and a cut answer still teaches the opening of a free-text reply
DEFAULT_REPLAY_MAX_TOKENS = 48
# prompts generated in one batch: fewer, wider decode steps
_GENERATE_BATCH = 64


def replay_prompts_path() -> Path:
    from honesty_evals.paths import shipped_datasets_dir

    return shipped_datasets_dir() / REPLAY_PROMPTS_FILE


def load_replay_prompts(n: int, path: Path | None = None) -> list[list[dict[str, str]]]:
    """`n` prompt conversations from the shipped replay set, chosen by a fixed shuffle.

    The order is fixed (seed 0) so that the same `n` always means the same prompts, whatever
    the training seed; `n` above the set's size is an error rather than silent repetition.
    """
    from honesty_evals.common.jsonl import read_records
    from honesty_evals.errors import UserInputError

    path = path or replay_prompts_path()
    records = read_records(path, lambda r: r["messages"], "replay prompt")
    if n > len(records):
        raise UserInputError(
            f"--replay {n}: the replay set {path} has {len(records)} prompts; pass at most "
            f"{len(records)} (or 0 for none)"
        )
    order = list(range(len(records)))
    random.Random(0).shuffle(order)
    return [records[i] for i in order[:n]]


def generate_replay(
    model: Any,
    tokenizer: Any,
    prompts: list[list[dict[str, str]]],
    device: Any,
    max_new_tokens: int = DEFAULT_REPLAY_MAX_TOKENS,
) -> list[dict[str, Any]]:
    """Chat records `{"messages": prompt + [assistant]}` with the model's greedy answers.

    Run on the base model before the adapter is attached. Greedy decoding makes the records
    a function of the weights and the prompts alone.
    """
    import torch

    records: list[dict[str, Any]] = []
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"  # generation continues from the right edge
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(prompts), _GENERATE_BATCH):
            chunk = prompts[start : start + _GENERATE_BATCH]
            texts = [
                tokenizer.apply_chat_template(p, tokenize=False, add_generation_prompt=True)
                for p in chunk
            ]
            enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
                device
            )
            with torch.no_grad():
                out = model.generate(
                    **enc,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad_id,
                    use_cache=True,
                )
            for prompt, row in zip(chunk, out[:, enc["input_ids"].shape[1] :]):
                answer = tokenizer.decode(row, skip_special_tokens=True).strip()
                if answer:
                    reply = {"role": "assistant", "content": answer}
                    records.append({"messages": [*prompt, reply]})
    finally:
        tokenizer.padding_side = side
        model.train(was_training)
    return records


def replay_cache_path(
    model_dir: Path,
    prompts_sha256: str,
    n: int,
    max_new_tokens: int,
    dtype: str,
    adapters: Sequence[Path] = (),
) -> Path:
    """Where the base model's replay answers are kept for later runs on the same machine.

    Why a cache: greedy answers in bfloat16 depend on how prompts are batched and padded
    (a batch of 64 changed 25 of SmolLM2's 145 answers against a batch of 16), so an
    organism and its control must read one file, not regenerate it. The key names the
    base weights (their files' sizes and modification times, so a model replaced in place
    gets new answers), the prompt file, N, the answer length and the dtype; over an organism
    (`adapters` merged into the model, which then answers), those adapters' weights too.
    """
    import hashlib

    from honesty_evals.paths import cache_dir

    model_dir = Path(model_dir).resolve()
    weights = _weights_identity(model_dir)
    parts: list[Any] = [str(model_dir), weights, prompts_sha256, n, max_new_tokens, dtype]
    if adapters:  # appended only when present: a plain base model keeps its cache
        parts.append([_weights_identity(Path(a).resolve()) for a in adapters])
    key = json.dumps(parts, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "replay" / f"{model_dir.name}-{n}-{digest}.jsonl"


# the config files whose change changes a model's or an adapter's answers
CONFIG_FILES = ("config.json", "adapter_config.json")


def _weights_identity(folder: Path) -> list[tuple[str, int, int]]:
    """A model or adapter folder's weight and config files: names, sizes, modification times."""
    return sorted(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.iterdir()
        if p.suffix in (".safetensors", ".bin", ".gguf") or p.name in CONFIG_FILES
    )


def read_replay(path: Path) -> list[dict[str, Any]]:
    from honesty_evals.common.jsonl import read_records

    return read_records(path, lambda record: record, "replay record")


def write_replay(path: Path, records: list[dict[str, Any]]) -> None:
    text = jsonl_text(records)
    write_text_atomic(path, text)
