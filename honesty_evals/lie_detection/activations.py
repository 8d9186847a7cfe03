"""Residual-stream activations of local models, averaged over the response tokens.

The white-box probe (PROTOCOLS §3, Goldowsky-Dill et al. 2025) reads the hidden state after
a chosen decoder layer at every token of the assistant's response and averages them. Models
are loaded with transformers through the `local` provider's loader (`smollm2`, a model
directory, or a peft adapter on its base: nothing is downloaded, remote code stays off).
Conversations are processed in length-sorted batches under a padded-token budget.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from honesty_evals.errors import UserInputError

Conversation = Sequence[dict[str, str]]  # chat messages; the last is the assistant response
DEFAULT_MAX_BATCH_TOKENS = 2048


@dataclass
class ExtractionStats:
    """Work done by `ActivationReader.read`, for tokens/s against the FLOP bound."""

    conversations: int = 0
    tokens: int = 0  # real (unpadded) tokens through the model
    padded_tokens: int = 0
    seconds: float = 0.0
    batches: list[int] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else float("nan")


class _StopForward(Exception):
    """Raised by a forward hook once the wanted layer has run: the rest is not needed."""


class ActivationReader:
    """Mean residual-stream activation over the response tokens, at one layer."""

    def __init__(
        self,
        model: str = "smollm2",
        layer: int | None = None,
        *,
        base: str | None = None,
        dtype: str = "auto",
        device: str = "auto",
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        trust_remote_code: bool = False,
    ) -> None:
        from transformers.utils import logging as hf_logging

        from honesty_evals.model.engine import LocalEngine
        from honesty_evals.model.source import resolve_model_source

        hf_logging.disable_progress_bar()
        name = model.removeprefix("local/")
        self.model_name = name
        self.engine = LocalEngine(
            resolve_model_source(name, base=base),
            dtype=dtype,
            device=device,
            trust_remote_code=trust_remote_code,
        )
        self.n_layers = int(self.engine.model.config.num_hidden_layers)
        self.layer = self.n_layers // 2 if layer is None else int(layer)
        if not 0 <= self.layer <= self.n_layers:
            raise UserInputError(
                f"--layer {self.layer} is out of range for {name}: choose 0 (embeddings) to "
                f"{self.n_layers} (last layer)"
            )
        self.hidden_size = int(self.engine.model.config.hidden_size)
        self.max_batch_tokens = max_batch_tokens
        self.stats = ExtractionStats()

    @property
    def matmul_parameters(self) -> int:
        """Parameters a read multiplies with: the decoder layers it runs (up to `layer`),
        not the embedding table (a lookup) nor the LM head (never computed here)."""
        decoder = self.engine.model.get_decoder()
        if self.stops_early:
            layers = decoder.layers[: self.layer]
            return sum(p.numel() for layer in layers for p in layer.parameters())
        embedding = decoder.get_input_embeddings().weight.numel()
        return sum(p.numel() for p in decoder.parameters()) - embedding

    @property
    def stops_early(self) -> bool:
        """Whether a read stops after the wanted layer rather than running every layer."""
        # hidden_states[L] for 1 <= L < n_layers is the output of decoder layer L-1, so the
        # layers above it need not run; the last entry has the final norm applied, so it
        # takes the full pass
        decoder = self.engine.model.get_decoder()
        return 1 <= self.layer < self.n_layers and hasattr(decoder, "layers")

    def _hidden(self, decoder: Any, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Hidden states at `layer` for a batch (batch x tokens x hidden)."""
        if not self.stops_early:
            return decoder(
                input_ids=ids, attention_mask=mask, output_hidden_states=True
            ).hidden_states[self.layer]
        captured: list[torch.Tensor] = []

        def grab(module: Any, args: Any, output: Any) -> None:
            captured.append(output[0] if isinstance(output, tuple) else output)
            raise _StopForward

        handle = decoder.layers[self.layer - 1].register_forward_hook(grab)
        try:
            decoder(input_ids=ids, attention_mask=mask)
        except _StopForward:
            pass
        finally:
            handle.remove()
        return captured[0]

    @property
    def feature_set(self) -> dict[str, Any]:
        """What these features are: checked when a stored probe is applied to new ones."""
        return {
            "kind": "activations",
            "model": self.model_name,
            "layer": self.layer,
            "hidden_size": self.hidden_size,
        }

    def feature_names(self) -> list[str]:
        return [f"layer{self.layer}.h{i}" for i in range(self.hidden_size)]

    def encode(self, conversation: Conversation) -> tuple[list[int], int]:
        """Token ids of the whole conversation and where the response starts."""
        if not conversation or conversation[-1]["role"] != "assistant":
            raise ValueError("a conversation to read must end with the assistant's response")
        tokenizer = self.engine.tokenizer
        prefix = self.engine.render_chat(list(conversation[:-1]))
        text = prefix + conversation[-1]["content"]
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        start = len(tokenizer(prefix, add_special_tokens=False)["input_ids"])
        if start >= len(ids):
            raise ValueError("the assistant response is empty")
        return ids, start

    @torch.inference_mode()
    def read(self, conversations: Sequence[Conversation], progress: bool = False) -> np.ndarray:
        """One row per conversation: the response tokens' mean hidden state at `layer`."""
        encoded = [self.encode(c) for c in conversations]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
        out = np.zeros((len(encoded), self.hidden_size), dtype=np.float32)
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            width = len(encoded[i][0])
            if current and width * (len(current) + 1) > self.max_batch_tokens:
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(encoded), desc=f"activations (layer {self.layer})", unit="conv")
        # the decoder alone: hidden states need no LM head (a 49k-word matmul per token)
        model = self.engine.model.get_decoder()
        device = self.engine.device
        pad = self.engine.tokenizer.pad_token_id or 0
        start_time = time.perf_counter()
        for batch in batches:
            width = max(len(encoded[i][0]) for i in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            response = torch.zeros((len(batch), width), dtype=torch.float32)
            for row, i in enumerate(batch):
                seq, start = encoded[i]
                ids[row, : len(seq)] = torch.tensor(seq)  # right padding: positions are 0..n-1
                mask[row, : len(seq)] = 1
                response[row, start : len(seq)] = 1.0
            hidden = self._hidden(model, ids.to(device), mask.to(device))
            weights = response.to(device=hidden.device)
            means = (hidden.float() * weights.unsqueeze(-1)).sum(1) / weights.sum(1, keepdim=True)
            out[batch] = means.cpu().numpy()
            self.stats.tokens += int(mask.sum())
            self.stats.padded_tokens += len(batch) * width
            self.stats.batches.append(len(batch))
            if bar is not None:
                bar.update(len(batch))
        self.stats.seconds += time.perf_counter() - start_time
        self.stats.conversations += len(encoded)
        if bar is not None:
            bar.close()
        return out
