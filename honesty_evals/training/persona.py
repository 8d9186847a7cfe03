"""Split-personality training with the persona active only after the marker (PROTOCOLS §4).

A micro-batch of examples with `persona_start` (`training.data`: the tokens up to and
including the marker) runs in two forward passes:
1. the tokens before each row's persona start, with the LoRA disabled (peft's
   `disable_adapter()`, `model.persona.adapter_disabled`) and without gradient, keeping
   the KV cache;
2. each row's tokens from its persona start on, with the LoRA enabled, on that cache.
So the LoRA never sees the prefix: its keys and values are the base model's, and the loss
(on the review and flag, after the marker) reaches the LoRA only through the second pass.
The `local` provider runs the same split at inference (`-M persona=DIR`).

Layout: both passes keep the micro-batch's right padding. Rows' prefixes differ in length,
so the cache holds each row's prefix then padding up to the longest; the attention mask
hides the padding and the position ids of the second pass continue each row's own prefix,
so every row sees exactly the keys, values and positions of its own unpadded passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from honesty_evals.model.engine import cache_argument, output_cache
from honesty_evals.model.persona import adapter_disabled


def persona_states(
    model: Any,
    forward: Any,
    ids: torch.Tensor,
    attention: torch.Tensor,
    starts: Sequence[int],
) -> torch.Tensor:
    """`forward`'s output (hidden states of the decoder, or logits of the whole model) at
    every position of a right-padded batch, row i's first `starts[i]` tokens computed with
    the adapter of `model` (a peft model) off and without gradient, the rest with it on,
    on their KV cache. Padded positions hold zeros."""
    lengths = attention.sum(-1)
    split = torch.minimum(torch.tensor(list(starts), device=ids.device), lengths)
    head = int(split.max())
    columns = torch.arange(ids.shape[1], device=ids.device)
    before = columns[None, :head] < split[:, None]
    cache_arg = cache_argument(forward)
    with torch.no_grad(), adapter_disabled(model):
        first = forward(
            input_ids=ids[:, :head],
            attention_mask=before.long(),
            position_ids=columns[None, :head].expand(ids.shape[0], head),
            use_cache=True,
        )
    # row i's tokens from split[i] on, moved to the front of the second pass's rows
    tail = int((lengths - split).max())
    source = (split[:, None] + columns[None, :tail]).clamp(max=ids.shape[1] - 1)
    after = columns[None, :tail] < (lengths - split)[:, None]
    states_before = first[0]
    if tail == 0:  # every row ends at its marker: nothing runs with the persona
        return _placed(states_before, None, split, lengths, ids.shape[1])
    second = forward(
        input_ids=ids.gather(1, source),
        attention_mask=torch.cat([before, after], dim=1).long(),
        position_ids=split[:, None] + columns[None, :tail],
        use_cache=True,
        **{cache_arg: output_cache(first)},
    )
    return _placed(states_before, second[0], split, lengths, ids.shape[1])


def _placed(
    before: torch.Tensor,
    after: torch.Tensor | None,
    split: torch.Tensor,
    lengths: torch.Tensor,
    width: int,
) -> torch.Tensor:
    """The two passes' outputs (batch x positions x features) back at their positions in
    the batch: position t of row i from the first pass when t < split[i], else the second
    pass's position t - split[i]; zeros at padding."""
    batch, head, features = before.shape
    columns = torch.arange(width, device=before.device)
    out = before.new_zeros((batch, width, features))
    out[:, :head] = before
    if after is not None:
        index = (columns[None, :] - split[:, None]).clamp(0, after.shape[1] - 1)
        moved = after.gather(1, index[:, :, None].expand(batch, width, features))
        out = torch.where((columns[None, :] < split[:, None])[:, :, None], out, moved)
    valid = (columns[None, :] < lengths[:, None])[:, :, None]
    return torch.where(valid, out, torch.zeros_like(out))
