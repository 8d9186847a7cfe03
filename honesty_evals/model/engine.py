"""Batched text generation with log-probabilities for local transformers models.

Kept free of Inspect types so it can be tested and benchmarked on its own. The `local`
provider turns Inspect requests into `GenerationParams` + prompts (+ a seed per prompt) and
calls `generate`.

Sampling is reproducible per prompt: each prompt draws from its own `torch.Generator`,
seeded from its own seed, in our own decode loop (transformers' `generate` samples a whole
batch from the global RNG, so a row's draws would depend on its batch). A sampled answer
therefore depends on (prompt, seed) only, not on batch size, `max_batch_tokens` chunking or
the order requests arrive in; the one caveat is floating point: a row's logits can differ in
the last bits between batch shapes, which changes a draw only when it lands that close to
the boundary between two tokens.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from honesty_evals.common.seeds import request_seed
from honesty_evals.errors import UserInputError
from honesty_evals.model.source import ModelSource

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Padded tokens per forward pass: measured fastest on 2 CPU cores (1024 beat 512 and 2048).
DEFAULT_MAX_BATCH_TOKENS = 1024


def resolve_device_dtype(device: str = "auto", dtype: str = "auto") -> tuple[str, str]:
    """Concrete device and dtype names for the "auto" settings.

    "auto" dtype is bfloat16 on accelerators and float32 on CPU: float32 keeps CPU results
    exact (`-M dtype=bfloat16` is ~3x faster there, at bfloat16 precision).
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    if dtype not in DTYPES:
        raise UserInputError(
            f"unknown dtype '{dtype}' in -M dtype=...: choose auto, {', '.join(DTYPES)}"
        )
    return device, dtype


@dataclass(frozen=True)
class GenerationParams:
    """Settings shared by every request in a batch (requests are grouped by these).

    The sampling seed is not one of them: it is per prompt (`LocalEngine.generate(seeds=)`),
    so requests with different seeds share a batch.
    """

    max_tokens: int = 256
    temperature: float | None = None  # None or 0 -> greedy
    top_p: float | None = None
    top_k: int | None = None
    top_logprobs: int = 0  # 0 -> no logprobs; else how many alternatives per position
    stop_seqs: tuple[str, ...] = ()

    @property
    def greedy(self) -> bool:
        return not self.temperature


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class EngineStats:
    """Work done so far, for benchmarks (see benchmarks/bench_backdoor_awareness.py)."""

    padded_tokens: int = 0  # what the forward passes actually processed
    seconds: float = 0.0  # inside generate(), tokenisation included


@dataclass
class GenerationResult:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str  # "stop" | "max_tokens"
    logprobs: list[TokenLogprob] | None = None


class LocalEngine:
    """A loaded causal LM plus tokenizer that generates for batches of chat prompts."""

    def __init__(
        self,
        source: ModelSource,
        dtype: str = "auto",
        device: str = "auto",
        seed: int = 0,
        max_batch_tokens: int = DEFAULT_MAX_BATCH_TOKENS,
        merge_adapter: bool = True,
        trust_remote_code: bool = False,
    ) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        device, dtype = resolve_device_dtype(device, dtype)
        self.device = torch.device(device)
        torch_dtype = DTYPES[dtype]
        self.dtype = torch_dtype
        self.max_batch_tokens = max_batch_tokens
        self.source = source
        self.tokenizer = AutoTokenizer.from_pretrained(
            source.model_path, local_files_only=True, trust_remote_code=trust_remote_code
        )
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(
            source.model_path,
            dtype=torch_dtype,
            local_files_only=True,
            trust_remote_code=trust_remote_code,
        )
        if source.kind == "adapter":
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(source.path), is_trainable=False)
            if merge_adapter:
                # merged weights run at base-model speed; the adapter files are untouched
                model = model.merge_and_unload()
        self.model = model.to(self.device).eval()
        self._cache_arg = _cache_argument(self.model)
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        self.stats = EngineStats()
        self.seed = seed  # the model-level seed (-M seed=) of prompts that bring none
        self._lock = threading.Lock()  # one batch at a time: the CPU cores are shared

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """Apply the model's chat template, ending with the assistant's turn opened.

        A trailing assistant message is continued (a prefill), not closed.
        """
        continue_final = bool(messages) and messages[-1]["role"] == "assistant"
        if self.tokenizer.chat_template is None:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
            return text if continue_final else text + "assistant:"
        return self.tokenizer.apply_chat_template(
            messages,
            tokenize=False,
            add_generation_prompt=not continue_final,
            continue_final_message=continue_final,
        )

    def generate(
        self,
        prompts: list[str],
        params: GenerationParams,
        seeds: Sequence[int | None] | None = None,
    ) -> list[GenerationResult]:
        """Generate for each prompt; sub-batches are formed by length to limit padding.

        `seeds[i]` seeds prompt i's sampling; a missing or None seed is derived from the
        model-level seed and the prompt (`common.seeds.request_seed`). Greedy decoding
        ignores seeds.
        """
        if seeds is None:
            seeds = [None] * len(prompts)
        if len(seeds) != len(prompts):
            raise ValueError(f"{len(seeds)} seeds for {len(prompts)} prompts")
        with self._lock:
            start = time.perf_counter()
            row_seeds = [
                request_seed(self.seed, prompt) if seed is None else seed
                for prompt, seed in zip(prompts, seeds)
            ]
            encoded = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
            order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
            results: list[GenerationResult | None] = [None] * len(prompts)
            for chunk in _length_chunks(order, encoded, self.max_batch_tokens):
                generators = None if params.greedy else [_generator(row_seeds[i]) for i in chunk]
                chunk_results = self._generate_chunk(
                    [encoded[i] for i in chunk], params, generators
                )
                for i, result in zip(chunk, chunk_results):
                    results[i] = result
                self.stats.padded_tokens += len(chunk) * max(len(encoded[i]) for i in chunk)
            self.stats.seconds += time.perf_counter() - start
            return [r for r in results if r is not None]

    # -- internals ---------------------------------------------------------------------

    def _pad(self, sequences: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            if seq:
                ids[row, width - len(seq) :] = torch.tensor(seq)
                mask[row, width - len(seq) :] = 1
        return ids.to(self.device), mask.to(self.device)

    @torch.inference_mode()
    def _generate_chunk(
        self,
        sequences: list[list[int]],
        params: GenerationParams,
        generators: list[torch.Generator] | None,
    ) -> list[GenerationResult]:
        ids, mask = self._pad(sequences)
        new_tokens, step_logits, lengths = self._decode(ids, mask, params, generators)
        return self._results(sequences, new_tokens, step_logits, lengths, params)

    def _decode(
        self,
        ids: torch.Tensor,
        mask: torch.Tensor,
        params: GenerationParams,
        generators: list[torch.Generator] | None,
    ) -> tuple[torch.Tensor, list[torch.Tensor], list[int]]:
        """KV-cached decoding of a left-padded batch, one token per row per step.

        Returns the new tokens (batch x steps; a row that has stopped is filled with the pad
        token), the raw logits of every step (only when log-probabilities are wanted) and
        how many tokens each row generated, its stop token included. It computes what
        `model.generate` does for greedy decoding (same forward passes, same float32 logits,
        same end-of-sequence handling; tests/test_local_provider.py compares the two) but
        samples each row from its own generator.
        """
        batch = ids.shape[0]
        steps = max(params.max_tokens, 1)
        keep_logits = params.top_logprobs > 0
        pad = self.tokenizer.pad_token_id
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        # logits for the last position only: one forward pass of this is the whole cost of
        # a logprob-scored multiple-choice question
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=position_ids,
            use_cache=True,
            logits_to_keep=1,
        )
        next_positions = position_ids[:, -1:] + 1
        lengths = [steps] * batch
        running = list(range(batch))
        generated: list[list[int]] = [[] for _ in range(batch)]  # on the CPU, for stopping
        tokens: list[torch.Tensor] = []
        step_logits: list[torch.Tensor] = []
        for step in range(steps):
            # float32 like transformers' generate, so greedy ties and logprobs match it
            logits = out.logits[:, -1, :].float()
            if keep_logits:
                step_logits.append(logits)
            chosen = self._choose(logits, params, generators)
            if len(running) < batch:
                stopped = torch.ones(batch, dtype=torch.bool)
                stopped[running] = False
                chosen = chosen.masked_fill(stopped.to(chosen.device), pad)
            tokens.append(chosen)
            for row, token in enumerate(chosen.tolist()):
                generated[row].append(token)
            running = self._still_running(running, generated, params, lengths)
            if not running or step == steps - 1:
                break
            mask = torch.cat([mask, mask.new_ones((batch, 1))], dim=1)
            cache = getattr(out, "cache", None)  # transformers 5.x; 4.x: past_key_values
            out = self.model(
                input_ids=chosen.unsqueeze(1),
                attention_mask=mask,
                position_ids=next_positions,
                use_cache=True,
                **{self._cache_arg: out.past_key_values if cache is None else cache},
            )
            next_positions = next_positions + 1
        return torch.stack(tokens, dim=1), step_logits, lengths

    def _still_running(
        self,
        running: list[int],
        generated: list[list[int]],
        params: GenerationParams,
        lengths: list[int],
    ) -> list[int]:
        """The rows of `running` that go on after their latest token; a row that stops (an
        end-of-sequence token, or a stop string anywhere in its text, as transformers'
        `stop_strings` would) records its length, stop token included, in `lengths`."""
        still = []
        for row in running:
            tokens = generated[row]
            stopped = tokens[-1] in self.eos_ids
            if not stopped and params.stop_seqs:
                text = self.tokenizer.decode(tokens, skip_special_tokens=True)
                stopped = any(stop in text for stop in params.stop_seqs)
            if stopped:
                lengths[row] = len(tokens)
            else:
                still.append(row)
        return still

    def _choose(
        self,
        logits: torch.Tensor,
        params: GenerationParams,
        generators: list[torch.Generator] | None,
    ) -> torch.Tensor:
        """The next token of each row: the argmax, or a draw from the row's own generator."""
        if params.greedy:
            return logits.argmax(-1)
        if generators is None or len(generators) != logits.shape[0]:
            raise ValueError("sampling needs one generator per row")
        scaled = logits.float() / float(params.temperature or 1.0)
        if params.top_k:
            kth = torch.topk(scaled, min(params.top_k, scaled.shape[-1]), dim=-1).values[..., -1:]
            scaled = scaled.masked_fill(scaled < kth, float("-inf"))
        probs = torch.softmax(scaled, dim=-1)
        if params.top_p is not None and params.top_p < 1.0:
            sorted_probs, sorted_idx = probs.sort(dim=-1, descending=True)
            keep = sorted_probs.cumsum(-1) - sorted_probs < params.top_p
            filtered = torch.zeros_like(probs).scatter(-1, sorted_idx, sorted_probs * keep)
            probs = filtered / filtered.sum(-1, keepdim=True)
        # one draw per row from that row's generator: a row's answer never depends on which
        # other rows share its batch (generators live on the CPU, so a seed also gives the
        # same draw on any device)
        rows = probs.cpu()
        picks = [
            torch.multinomial(rows[row], 1, replacement=True, generator=generator)
            for row, generator in enumerate(generators)
        ]
        return torch.cat(picks).to(logits.device)

    def _results(
        self,
        sequences: list[list[int]],
        new_tokens: torch.Tensor,
        step_logits: list[torch.Tensor],
        lengths: list[int],
        params: GenerationParams,
    ) -> list[GenerationResult]:
        want_logprobs = params.top_logprobs > 0
        step_logprobs = (
            [torch.log_softmax(lg.float(), dim=-1) for lg in step_logits] if want_logprobs else []
        )
        results = []
        for row, seq in enumerate(sequences):
            tokens = new_tokens[row, : lengths[row]].tolist()
            n_out = len(tokens)
            stop_reason = "max_tokens"
            for pos, tok in enumerate(tokens):
                if tok in self.eos_ids:
                    n_out, stop_reason = pos, "stop"
                    break
            kept = tokens[:n_out]
            text = self.tokenizer.decode(kept, skip_special_tokens=True)
            for stop in params.stop_seqs:
                if stop in text:
                    text, stop_reason = text[: text.index(stop)], "stop"
            logprobs = None
            if want_logprobs:
                logprobs = []
                # include the stop token's position so a one-token answer that is EOS still
                # reports its alternatives
                for pos in range(min(len(tokens), max(n_out, 1))):
                    lp = step_logprobs[pos][row]
                    values, indices = lp.topk(params.top_logprobs)
                    logprobs.append(
                        TokenLogprob(
                            token=self.tokenizer.decode([tokens[pos]]),
                            logprob=float(lp[tokens[pos]]),
                            top=[
                                (self.tokenizer.decode([i]), float(v))
                                for i, v in zip(indices.tolist(), values.tolist())
                            ],
                        )
                    )
            results.append(
                GenerationResult(
                    text=text,
                    input_tokens=len(seq),
                    output_tokens=n_out,
                    stop_reason=stop_reason,
                    logprobs=logprobs,
                )
            )
        return results


def _generator(seed: int) -> torch.Generator:
    # torch takes seeds in [-2**63, 2**64); any Python int maps into it
    return torch.Generator(device="cpu").manual_seed(int(seed) % 2**64)


def _cache_argument(model: Any) -> str:
    """The forward argument that takes the KV cache: recent transformers renamed
    `past_key_values` to `cache` (and warn about the old name)."""
    import inspect

    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(base.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), model.config):
        value = getattr(source, "eos_token_id", None) if source is not None else None
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list):
            ids.update(v for v in value if isinstance(v, int))
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def _length_chunks(
    order: list[int], encoded: list[list[int]], max_batch_tokens: int
) -> list[list[int]]:
    """Split length-sorted indices so each chunk's padded size stays under the budget."""
    chunks: list[list[int]] = []
    current: list[int] = []
    for i in order:
        width = max(len(encoded[i]), 1)
        if current and width * (len(current) + 1) > max_batch_tokens:
            chunks.append(current)
            current = []
        current.append(i)
    if current:
        chunks.append(current)
    return chunks
