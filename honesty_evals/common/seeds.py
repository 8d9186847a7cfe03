"""Sampling seeds that name what is drawn, so a sampled answer can be reproduced on its own.

A seed is a stable hash of what it identifies (task seed, sample id, draw), not a position in
a shared random stream: the same answer comes back whatever else runs beside it, in any
order, batch or process. Python's `hash()` is salted per process for strings, so it would
not do; blake2b is the same everywhere.
"""

from __future__ import annotations

import hashlib
import json

SEED_BITS = 63  # non-negative and within a signed 64-bit integer, which every provider takes


def stable_seed(*parts: str | int) -> int:
    """A 63-bit seed from `parts`, identical across processes, machines and Python versions.

    Parts are JSON-encoded before hashing, so `("a", 1)` and `("a1",)` or `(1,)` and `("1",)`
    give different seeds.
    """
    payload = json.dumps(list(parts), separators=(",", ":")).encode("utf-8")
    digest = hashlib.blake2b(payload, digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - SEED_BITS)


def sample_seed(task_seed: int, sample_id: str | int, draw: int, epoch: int = 1) -> int:
    """The seed of draw `draw` (0, 1, ...) for sample `sample_id` of a task run with `task_seed`.

    Distinct across samples, draws and task seeds, and stable across runs. `epoch` (Inspect's
    1-based `state.epoch`) makes repeated epochs draw anew; epoch 1 gives the same seed as
    leaving it out.
    """
    parts: list[str | int] = ["sample", task_seed, sample_id, draw]
    if epoch != 1:
        parts.append(epoch)
    return stable_seed(*parts)


def request_seed(model_seed: int, prompt: str) -> int:
    """The seed of a request that names none: a function of the model-level seed
    (`-M seed=`) and the prompt, so it does not depend on which other requests ran first.

    Identical unseeded prompts therefore get identical samples: callers that want several
    draws of one prompt pass a seed per draw (`sample_seed`) or ask for several choices.
    """
    return stable_seed("request", model_seed, prompt)


def choice_seed(seed: int, choice: int) -> int:
    """The seed of choice `choice` of a request asking for several (`num_choices`).

    Choice 0 keeps the request's seed, so asking for one choice or several gives the same
    first answer.
    """
    return seed if choice == 0 else stable_seed("choice", seed, choice)
