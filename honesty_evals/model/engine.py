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

With a persona adapter (`-M persona=DIR`, `model.persona`) each prompt is split at the
persona's marker: the tokens up to and including it are encoded with the adapter disabled,
as a prefix, and the tokens after it and every generated token with the adapter on, on that
prefix's KV cache (`_generate_persona`).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from honesty_evals.common.seeds import request_seed
from honesty_evals.errors import UserInputError
from honesty_evals.model.devices import resolve_device_dtype, torch_dtype
from honesty_evals.model.persona import (
    PersonaAdapter,
    adapter_disabled,
    attach_persona,
    check_organism_merged,
    marker_split,
)
from honesty_evals.model.prefix_cache import (
    DEFAULT_PREFIX_CACHE_MB,
    Prefix,
    PrefixStore,
    extend_prefixes,
    plan_prefixes,
)
from honesty_evals.model.source import ModelSource

logger = logging.getLogger(__name__)

# what dtype "auto" means off a GPU, for inference: float32 keeps CPU results exact
# (`-M dtype=bfloat16` is ~3x faster there, at bfloat16 precision)
CPU_DTYPE = "float32"
# Padded tokens per forward pass: measured fastest on 2 CPU cores (1024 beat 512 and 2048).
DEFAULT_MAX_BATCH_TOKENS = 1024
# With shared prefixes a row's own pass covers only its suffix, but it attends to (and its
# chunk holds a copy of) its whole prefix: a chunk's suffixes fill `max_batch_tokens`, and
# its prefixes + suffixes at most this many times that, which bounds the copied KV memory.
PREFIX_CONTEXT_FACTOR = 8
# The first batch that uses a shared prefix checks one row against its uncached forward
# pass. In float32, rounding differs between matrix shapes by ~1e-5, so the check is the
# max absolute difference of the top-20 log-probabilities, within 1e-3. In 16-bit types the
# top-20 log-probabilities move too much for that: on SmolLM2-135M in bfloat16 (48
# backdoor_awareness rows, every row checked, 2026-12-02) a correct cache moved them by up to
# 0.65 (median 0.23), a low-probability token's rounding, and the old 0.5 tolerance turned
# the cache off at random. There the check is the total variation distance between the two
# next-token distributions: at most 0.076 for a correct cache, and at least 0.63 (median
# 0.77) for a cache whose keys are shifted by one position, the kind of error it is there
# to catch.
VERIFY_TOLERANCE = {torch.float32: 1e-3, torch.bfloat16: 0.25, torch.float16: 0.25}


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


@dataclass(frozen=True)
class PersonaPhases:
    """Whether a loaded persona adapter is on for a prompt's own forward pass and for the
    decoding steps. Prefixes encoded once are always before the marker, so always off."""

    prefill: bool = False
    decode: bool = False


# a prompt without the marker (and what a model without a persona runs: nothing to switch)
WITHOUT_PERSONA = PersonaPhases()
# a prompt that ends with the marker: the persona starts with the first generated token
AT_MARKER = PersonaPhases(prefill=False, decode=True)
# a prompt that goes on after the marker: its tokens after it, on the prefix's KV cache
AFTER_MARKER = PersonaPhases(prefill=True, decode=True)


@dataclass
class TokenLogprob:
    token: str
    logprob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class EngineStats:
    """Work done so far, for benchmarks and the audit's time profile."""

    padded_tokens: int = 0  # prompt tokens the forward passes processed, padding included
    prompt_tokens: int = 0  # prompt tokens requested (every row's whole prompt)
    computed_tokens: int = 0  # prompt tokens computed; the rest came from shared prefixes
    output_tokens: int = 0  # tokens generated (decode steps, stop tokens included)
    rows: int = 0  # prompts generated for
    prefix_rows: int = 0  # prompts that started from a shared prefix
    persona_rows: int = 0  # prompts with the persona's marker (the persona on after it)
    persona_marker_missing: int = 0  # prompts without it, answered without the persona
    seconds: float = 0.0  # inside generate(), tokenisation included

    @property
    def reused_tokens(self) -> int:
        return self.prompt_tokens - self.computed_tokens

    @property
    def hit_rate(self) -> float:
        """Share of the requested prompt tokens taken from a shared prefix's cache."""
        return self.reused_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def add(self, other: EngineStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class GenerationResult:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str  # "stop" | "max_tokens"
    logprobs: list[TokenLogprob] | None = None
    # of input_tokens, how many came from a shared prefix encoded once for several rows (or
    # kept from an earlier batch) rather than by this row's own pass
    cached_tokens: int = 0
    # with a persona loaded: whether the prompt held its marker (None: no persona)
    persona_marker_found: bool | None = None


class PrefixCacheUnsupported(Exception):
    """The model's KV cache cannot be copied or expanded (or did not reproduce the
    uncached pass): the engine falls back to encoding every prompt whole."""


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
        prefix_cache: bool = True,
        prefix_cache_mb: float = DEFAULT_PREFIX_CACHE_MB,
        persona: PersonaAdapter | None = None,
    ) -> None:
        """`prefix_cache`: encode prefixes shared by several prompts once and keep recent
        ones (up to `prefix_cache_mb` MiB of keys and values) for later batches. `persona`:
        a LoRA active only after its marker (`model.persona`), over the model (an organism
        merged into its base)."""
        from transformers import AutoTokenizer

        if prefix_cache and not prefix_cache_mb > 0:
            raise UserInputError(
                f"prefix_cache_size={prefix_cache_mb!r} must be a positive number of MiB"
            )

        device, dtype = resolve_device_dtype(device, dtype, cpu_dtype=CPU_DTYPE)
        self.device = torch.device(device)
        self.dtype = torch_dtype(dtype)
        self.max_batch_tokens = max_batch_tokens
        self.source = source
        self.tokenizer = AutoTokenizer.from_pretrained(
            source.model_path, local_files_only=True, trust_remote_code=trust_remote_code
        )
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if persona is not None:
            _check_persona_host(source, merge_adapter, self.tokenizer)
        self.persona = persona
        model = _load_model(source, self.dtype, merge_adapter, trust_remote_code)
        if persona is not None:
            model = attach_persona(model, persona)
        self.model = model.to(self.device).eval()
        # nothing here trains; and torch picks its matmul kernel by whether a weight needs
        # gradients (a 3-D input is folded into one matrix product only for frozen weights),
        # which moves the last bits: frozen always, the model computes the same with or
        # without a (frozen-base) persona adapter loaded over it
        self.model.requires_grad_(False)
        self._cache_arg = cache_argument(self.model)
        self.eos_ids = _eos_ids(self.model, self.tokenizer)
        self.stats = EngineStats()
        self.seed = seed  # the model-level seed (-M seed=) of prompts that bring none
        self._lock = threading.Lock()  # one batch at a time: the CPU cores are shared
        self.prefix_store = PrefixStore(int(prefix_cache_mb * 2**20)) if prefix_cache else None
        self._prefix_checked = False  # the model's cache class was probed
        self._prefix_verified = False  # a batch reproduced the uncached pass
        self._persona_verified = False  # a persona row reproduced its own two passes
        self.prefix_cache_disabled: str | None = None  # why the fallback was taken

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """Apply the model's chat template, ending with the assistant's turn opened.

        A trailing assistant message is continued (a prefill), not closed.
        """
        continue_final = bool(messages) and messages[-1]["role"] == "assistant"
        if self.tokenizer.chat_template is None:
            text = "".join(f"{m['role']}: {m['content']}\n" for m in messages)
            return text if continue_final else text + "assistant:"
        rendered = self.tokenizer.apply_chat_template(
            messages,
            tokenize=False,
            add_generation_prompt=not continue_final,
            continue_final_message=continue_final,
        )
        assert isinstance(rendered, str)  # tokenize=False returns the text
        return rendered

    @functools.cached_property
    def chat_template_prefix(self) -> str:
        """What the chat template puts before the first user message of a conversation
        without a system message: SmolLM2's adds its default system prompt ("You are a
        helpful AI assistant named SmolLM, trained by Hugging Face"). The provider records
        it in every output, so a log says what the model saw beyond the task's messages."""
        marker = "\x00user message\x00"
        text = self.render_chat([{"role": "user", "content": marker}])
        return text[: text.index(marker)] if marker in text else ""

    def _text(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        """The text of one sequence of token ids (transformers types decode for batches too)."""
        text = self.tokenizer.decode(ids, skip_special_tokens=skip_special_tokens)
        assert isinstance(text, str)
        return text

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
            stats = EngineStats()  # this call's work, counted once it succeeds
            if self.persona is None:
                encoded = [
                    self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts
                ]
                results = self._generate_rows(encoded, params, row_seeds, stats, WITHOUT_PERSONA)
            else:
                results = self._generate_persona(prompts, params, row_seeds, stats)
            stats.seconds = time.perf_counter() - start
            self.stats.add(stats)
            return results

    def _generate_rows(
        self,
        encoded: list[list[int]],
        params: GenerationParams,
        row_seeds: list[int],
        stats: EngineStats,
        phases: PersonaPhases,
    ) -> list[GenerationResult]:
        """Shared prefixes encoded once where the prefix cache is on, else (or if it fails)
        every prompt encoded whole."""
        if self.prefix_store is not None:
            attempt = EngineStats()
            try:
                results = self._generate_shared(encoded, params, row_seeds, attempt, phases)
            except PrefixCacheUnsupported as exc:
                self._disable_prefix_cache(str(exc))
            except Exception as exc:  # noqa: BLE001
                # a model whose forward pass refuses a copied cache (a remote-code
                # model, an unusual attention) is run uncached rather than not at all;
                # a failure of the model itself recurs on the uncached path and is raised
                self._disable_prefix_cache(f"{type(exc).__name__}: {exc}")
            else:
                stats.add(attempt)
                return results
        return self._generate_plain(encoded, params, row_seeds, stats, phases)

    def _generate_persona(
        self,
        prompts: list[str],
        params: GenerationParams,
        row_seeds: list[int],
        stats: EngineStats,
    ) -> list[GenerationResult]:
        """Each prompt split at the persona's marker (`persona.marker_split`), in three
        groups: without the marker (the persona never on: the model it is loaded over),
        ending with it (the prompt without, the generated tokens with the persona), and
        going on after it (the tokens after the marker with the persona, on the KV cache of
        those before it, encoded without)."""
        assert self.persona is not None
        encoded: list[list[int]] = []
        groups: dict[PersonaPhases, list[int]] = {}
        splits: list[int] = []
        for i, prompt in enumerate(prompts):
            tokens = self.tokenizer(prompt, add_special_tokens=False, return_offsets_mapping=True)
            encoded.append(list(tokens["input_ids"]))
            split = marker_split(prompt, tokens["offset_mapping"], self.persona.marker)
            splits.append(len(encoded[i]) if split is None else split)
            groups.setdefault(_persona_phases(split, len(encoded[i])), []).append(i)
        results: list[GenerationResult | None] = [None] * len(prompts)
        for phases, rows in groups.items():
            args = ([encoded[i] for i in rows], params, [row_seeds[i] for i in rows], stats)
            if phases == AFTER_MARKER:
                done = self._generate_after_marker(*args, [splits[i] for i in rows])
            else:
                done = self._generate_rows(*args, phases)
            for i, result in zip(rows, done):
                result.persona_marker_found = phases != WITHOUT_PERSONA
                results[i] = result
        missing = len(groups.get(WITHOUT_PERSONA, []))
        stats.persona_marker_missing += missing
        stats.persona_rows += len(prompts) - missing
        if missing:
            logger.warning(
                "local: %d prompt(s) hold no persona marker %r: answered without the persona "
                "(each output's metadata says so)",
                missing,
                self.persona.marker,
            )
        return [r for r in results if r is not None]

    def _generate_after_marker(
        self,
        encoded: list[list[int]],
        params: GenerationParams,
        row_seeds: list[int],
        stats: EngineStats,
        splits: list[int],
    ) -> list[GenerationResult]:
        """Rows whose tokens after the marker run with the persona, on the KV cache of the
        tokens up to it (encoded without). The cache hand-over is the method itself, so a
        model whose cache cannot be handed over is refused rather than run whole."""
        try:
            return self._generate_shared(
                encoded, params, row_seeds, stats, AFTER_MARKER, persona_from=splits
            )
        except PrefixCacheUnsupported as exc:
            raise UserInputError(
                f"-M persona needs a model whose KV cache can carry the tokens before the "
                f"marker into the persona's pass, and {self.source.path}'s cannot ({exc})"
            ) from None

    def _persona(self, on: bool) -> AbstractContextManager[None]:
        """The persona adapter on (as loaded) or off for the enclosed forward passes;
        nothing to switch without one."""
        return nullcontext() if self.persona is None or on else adapter_disabled(self.model)

    def _generate_plain(
        self,
        encoded: list[list[int]],
        params: GenerationParams,
        row_seeds: list[int],
        stats: EngineStats,
        phases: PersonaPhases = WITHOUT_PERSONA,
    ) -> list[GenerationResult]:
        """Every prompt encoded whole, in length-sorted chunks of `max_batch_tokens`."""
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        results: list[GenerationResult | None] = [None] * len(encoded)
        for chunk in _length_chunks(order, encoded, self.max_batch_tokens):
            generators = None if params.greedy else [_generator(row_seeds[i]) for i in chunk]
            _, chunk_results = self._generate_chunk(
                [encoded[i] for i in chunk], [None] * len(chunk), params, generators, phases
            )
            for i, result in zip(chunk, chunk_results):
                results[i] = result
            stats.padded_tokens += len(chunk) * max(len(encoded[i]) for i in chunk)
        return self._count(results, stats)

    def _generate_shared(
        self,
        encoded: list[list[int]],
        params: GenerationParams,
        row_seeds: list[int],
        stats: EngineStats,
        phases: PersonaPhases = WITHOUT_PERSONA,
        persona_from: list[int] | None = None,
    ) -> list[GenerationResult]:
        """Prefixes shared by several prompts (or kept from earlier batches) encoded once,
        then each prompt's own pass over the rest of it, on a copy of its prefix's KV cache.

        Each row still samples from its own generator in the same decode loop, so what it
        generates depends on (prompt, seed) only, as on the uncached path.

        `persona_from[i]`: row i starts from a prefix of exactly that many tokens (those up
        to the persona's marker), shared and kept like any other (with the prefix cache
        off, computed for this call only); its own pass runs with `phases`.
        """
        if not self._prefix_checked:
            self._probe_cache(encoded)
        waves, starts = self._plan(encoded, persona_from)
        owned = self._encode_waves(waves, len(encoded), stats)
        skip = [p.length if p is not None else 0 for p in starts]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]) - skip[i])
        results: list[GenerationResult | None] = [None] * len(encoded)
        for rows in _suffix_chunks(order, encoded, skip, self.max_batch_tokens):
            generators = None if params.greedy else [_generator(row_seeds[i]) for i in rows]
            pasts = [starts[i] for i in rows]
            first_logits, chunk_results = self._generate_chunk(
                [encoded[i][skip[i] :] for i in rows], pasts, params, generators, phases
            )
            persona = persona_from is not None
            if not (self._persona_verified if persona else self._prefix_verified):
                self._verify(rows, pasts, encoded, first_logits, persona)
            for i, result in zip(rows, chunk_results):
                result.input_tokens = len(encoded[i])
                result.cached_tokens = skip[i] - owned[i]
                results[i] = result
            stats.padded_tokens += len(rows) * max(len(encoded[i]) - skip[i] for i in rows)
        stats.prefix_rows += sum(1 for p in starts if p is not None)
        return self._count(results, stats)

    def _plan(
        self, encoded: list[list[int]], persona_from: list[int] | None
    ) -> tuple[list[list[Prefix]], list[Prefix | None]]:
        """The prefixes to compute, wave by wave, and each row's start prefix (see
        `_generate_shared`)."""
        store = self.prefix_store
        lookup = store.longest if store is not None else None
        if persona_from is None:
            plan = plan_prefixes(encoded, lookup)
            return plan.waves, plan.start
        # planned over the tokens before the persona (a row's last token is never cached,
        # hence the one more), then each row's prefix extended to exactly the marker
        plan = plan_prefixes([seq[: n + 1] for seq, n in zip(encoded, persona_from)], lookup)
        starts, last = extend_prefixes(encoded, persona_from, plan.start)
        return ([*plan.waves, last] if last else plan.waves), starts

    def _encode_waves(
        self, waves: list[list[Prefix]], n_rows: int, stats: EngineStats
    ) -> list[int]:
        """Compute the prefixes wave by wave (without the persona: every prefix ends at or
        before a marker) and keep them; returns the prefix tokens each row is counted for."""
        owned = [0] * n_rows
        for wave in waves:
            for chunk in _prefix_chunks(wave, self.max_batch_tokens):
                stats.padded_tokens += self._encode_prefixes(chunk)
            for prefix in wave:
                owned[prefix.owner] += prefix.length - (prefix.base.length if prefix.base else 0)
                if self.prefix_store is not None:
                    self.prefix_store.add(prefix)
        return owned

    def _count(
        self, results: list[GenerationResult | None], stats: EngineStats
    ) -> list[GenerationResult]:
        done = [r for r in results if r is not None]
        stats.rows += len(done)
        stats.prompt_tokens += sum(r.input_tokens for r in done)
        stats.computed_tokens += sum(r.input_tokens - r.cached_tokens for r in done)
        stats.output_tokens += sum(r.output_tokens for r in done)
        return done

    def _disable_prefix_cache(self, reason: str) -> None:
        self.prefix_cache_disabled = reason
        self.prefix_store = None
        logger.warning(
            "local: shared-prefix caching is off for %s (%s); every prompt is encoded whole",
            self.source.path,
            reason,
        )

    # -- prefix caching internals --------------------------------------------------------

    @torch.inference_mode()
    def _probe_cache(self, encoded: list[list[int]]) -> None:
        """Refuse a model whose KV cache is not a plain transformers `DynamicCache` (sliding
        windows, quantised or recurrent layers, a remote-code tuple cache...): copying and
        padding its keys and values would not reproduce the uncached pass."""
        self._prefix_checked = True
        sample = next((seq[:2] for seq in encoded if seq), None)
        if sample is None:
            return
        ids = torch.tensor([sample], device=self.device)
        with self._persona(False):
            out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        _check_cache(output_cache(out))

    @torch.inference_mode()
    def _verify(
        self,
        chunk: list[int],
        pasts: list[Prefix | None],
        encoded: list[list[int]],
        first_logits: torch.Tensor,
        persona: bool = False,
    ) -> None:
        """Compare one row that started from a prefix with its own computation, unpadded and
        uncached (the row with the most padding in front of its prefix, which exercises the
        most): one forward pass of its prompt, or for a persona row (`persona`) its own two
        passes; nothing to compare when no row has a prefix."""
        if all(p is None for p in pasts):
            return
        row = _most_padded(pasts)
        tokens = encoded[chunk[row]]
        if persona:
            expected = self._two_passes(tokens, pasts[row].length)  # type: ignore[union-attr]
            self._check_logits(expected, first_logits[row], "the persona's cached prefix")
            self._persona_verified = True
            return
        # rows with a shared prefix are the model's own (a prompt without a persona marker,
        # or one that ends with it): the persona is off for their prompt
        with self._persona(False):
            ids = torch.tensor([tokens], device=self.device)
            expected = self.model(input_ids=ids, logits_to_keep=1).logits[0, -1]
        self._check_logits(expected, first_logits[row], "a cached prefix")
        self._prefix_verified = True

    def _two_passes(self, tokens: list[int], split: int) -> torch.Tensor:
        """The last logits of a persona prompt computed as the method says: its first `split`
        tokens without the persona, the rest with it on their KV cache."""
        with self._persona(False):
            before = self.model(
                input_ids=torch.tensor([tokens[:split]], device=self.device),
                use_cache=True,
                logits_to_keep=1,
            )
        after = self.model(
            input_ids=torch.tensor([tokens[split:]], device=self.device),
            use_cache=True,
            logits_to_keep=1,
            **{self._cache_arg: output_cache(before)},
        )
        return after.logits[0, -1]

    def _check_logits(self, expected: torch.Tensor, got: torch.Tensor, what: str) -> None:
        """Raise PrefixCacheUnsupported unless `got` gives `expected`'s next-token distribution
        within the dtype's rounding (`VERIFY_TOLERANCE` says how it is measured, and why)."""
        want = torch.log_softmax(expected.float(), dim=-1)
        have = torch.log_softmax(got.float(), dim=-1)
        if self.dtype == torch.float32:
            top = want.topk(min(20, want.shape[-1])).indices
            error = float((want[top] - have[top]).abs().max())
            measure = "log-probabilities by"
        else:  # 16-bit: total variation distance
            error = float(0.5 * (want.exp() - have.exp()).abs().sum())
            measure = "the next-token distribution by a total variation of"
        tolerance = VERIFY_TOLERANCE.get(self.dtype, 0.25)
        if not error <= tolerance:
            raise PrefixCacheUnsupported(f"{what} changed {measure} {error:.3g} (> {tolerance})")

    @torch.inference_mode()
    def _encode_prefixes(self, prefixes: list[Prefix]) -> int:
        """Compute the keys and values of `prefixes` (each from its base); padded tokens."""
        segments = [list(p.tokens[p.base.length if p.base else 0 :]) for p in prefixes]
        with self._persona(False):
            out, mask, _ = self._prefill(segments, [p.base for p in prefixes])
        cache = output_cache(out)
        _check_cache(cache)
        for row, prefix in enumerate(prefixes):
            keep = mask[row].nonzero().squeeze(-1)
            prefix.layers = [
                (
                    layer.keys[row : row + 1].index_select(2, keep),
                    layer.values[row : row + 1].index_select(2, keep),
                )
                for layer in cache.layers
            ]
            if prefix.layers and prefix.layers[0][0].shape[2] != prefix.length:
                raise PrefixCacheUnsupported("the cache did not hold one entry per token")
        return len(prefixes) * max(len(s) for s in segments)

    def _stack_pasts(
        self, pasts: Sequence[Prefix | None]
    ) -> tuple[Any | None, torch.Tensor | None]:
        """One left-padded cache for the rows' prefixes (each distinct prefix copied once,
        then expanded to its rows) and its attention mask; (None, None) when none has one."""
        width = max((p.length for p in pasts if p is not None), default=0)
        if width == 0:
            return None, None
        from transformers import DynamicCache

        distinct: dict[int, int] = {}
        sources: list[Prefix] = []
        for p in pasts:
            if p is not None and id(p) not in distinct:
                distinct[id(p)] = len(sources) + 1  # 0: the all-padding slot of rows without
                sources.append(p)
        index = torch.tensor(
            [distinct[id(p)] if p is not None else 0 for p in pasts], device=self.device
        )
        mask = torch.zeros((len(pasts), width), dtype=torch.long)
        for row, p in enumerate(pasts):
            if p is not None:
                mask[row, width - p.length :] = 1
        layers = sources[0].layers
        assert layers is not None
        data = []
        for layer in range(len(layers)):
            stacked = []
            for kind in (0, 1):
                ref = layers[layer][kind]
                slots = ref.new_zeros((len(sources) + 1, ref.shape[1], width, ref.shape[3]))
                for slot, p in enumerate(sources, start=1):
                    assert p.layers is not None
                    slots[slot, :, width - p.length :] = p.layers[layer][kind][0]
                stacked.append(slots.index_select(0, index))
            data.append((stacked[0], stacked[1]))
        return DynamicCache(data), mask.to(self.device)

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

    def _prefill(
        self, sequences: list[list[int]], pasts: Sequence[Prefix | None]
    ) -> tuple[Any, torch.Tensor, torch.Tensor]:
        """One forward pass over each row's tokens after its prefix (all of them without one).

        The batch is laid out as [padding, prefix | padding, tokens]: each row's prefix KV
        left-padded to the longest prefix, its own tokens left-padded to the longest row, and
        the attention mask hides both paddings. Position ids count real tokens only, so a row
        sees exactly the keys, values and positions its own unpadded pass would. Returns the
        model output (logits of the last position only), the attention mask over prefix and
        tokens, and the tokens' position ids.
        """
        ids, mask = self._pad(sequences)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache, past_mask = self._stack_pasts(pasts)
        extra: dict[str, Any] = {}
        if cache is not None and past_mask is not None:
            offsets = torch.tensor([p.length if p else 0 for p in pasts], device=self.device)
            positions = positions + offsets[:, None]
            mask = torch.cat([past_mask, mask], dim=1)
            extra[self._cache_arg] = cache
        # logits for the last position only: one forward pass of this is the whole cost of
        # a logprob-scored multiple-choice question
        out = self.model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **extra,
        )
        return out, mask, positions

    @torch.inference_mode()
    def _generate_chunk(
        self,
        sequences: list[list[int]],
        pasts: Sequence[Prefix | None],
        params: GenerationParams,
        generators: list[torch.Generator] | None,
        phases: PersonaPhases = WITHOUT_PERSONA,
    ) -> tuple[torch.Tensor, list[GenerationResult]]:
        """Generate for rows given as their tokens after `pasts` (their prefixes, or None),
        with a persona on where `phases` says; also returns the first step's logits."""
        with self._persona(phases.prefill):
            out, mask, positions = self._prefill(sequences, pasts)
        first_logits = out.logits[:, -1, :]
        with self._persona(phases.decode):
            new_tokens, row_logprobs, lengths = self._decode(
                out, mask, positions, params, generators
            )
        results = self._results(sequences, new_tokens, row_logprobs, lengths, params)
        return first_logits, results

    def _decode(
        self,
        out: Any,
        mask: torch.Tensor,
        position_ids: torch.Tensor,
        params: GenerationParams,
        generators: list[torch.Generator] | None,
    ) -> tuple[list[list[int]], list[list[torch.Tensor]], list[int]]:
        """KV-cached decoding of a prefilled batch (`_prefill`), one token per row per step.

        Returns each row's new tokens, its log-probabilities at every step (only when
        they are wanted) and how many tokens it generated, its stop token
        included. It computes what `model.generate` does for greedy decoding (same forward
        passes, same float32 logits, same end-of-sequence handling;
        tests/model/test_local_provider.py compares the two) but samples each row from its
        own generator, and drops a row from the batch once it stops: `model.generate` keeps
        computing finished rows to the longest answer, which on 2 CPU cores made a batch of
        short answers cost as much as one of long ones.
        """
        batch = mask.shape[0]
        steps = max(params.max_tokens, 1)
        keep_logprobs = params.top_logprobs > 0
        next_positions = position_ids[:, -1:] + 1
        lengths = [steps] * batch
        active = list(range(batch))  # the batch row of each row still computed
        generated: list[list[int]] = [[] for _ in range(batch)]  # on the CPU, for stopping
        row_logprobs: list[list[torch.Tensor]] = [[] for _ in range(batch)]
        for step in range(steps):
            # float32 like transformers' generate, so greedy ties and logprobs match it
            logits = out.logits[:, -1, :].float()
            if keep_logprobs:
                step_logprobs = torch.log_softmax(logits, dim=-1)  # once per step, batched
                for slot, row in enumerate(active):
                    row_logprobs[row].append(step_logprobs[slot])
            chosen = self._choose(
                logits, params, None if generators is None else [generators[r] for r in active]
            )
            for row, token in zip(active, chosen.tolist()):
                generated[row].append(token)
            running = self._still_running(active, generated, params, lengths)
            if not running or step == steps - 1:
                break
            cache = output_cache(out)
            if len(running) < len(active):
                still = set(running)
                slots = torch.tensor(
                    [slot for slot, row in enumerate(active) if row in still], device=mask.device
                )
                cache.batch_select_indices(slots)
                mask, next_positions, chosen = mask[slots], next_positions[slots], chosen[slots]
                active = running
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            out = self.model(
                input_ids=chosen.unsqueeze(1),
                attention_mask=mask,
                position_ids=next_positions,
                use_cache=True,
                **{self._cache_arg: cache},
            )
            next_positions = next_positions + 1
        return generated, row_logprobs, lengths

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
                text = self._text(tokens, skip_special_tokens=True)
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
        return draw_tokens(probs, generators)

    def _results(
        self,
        sequences: list[list[int]],
        new_tokens: list[list[int]],
        row_logprobs: list[list[torch.Tensor]],
        lengths: list[int],
        params: GenerationParams,
    ) -> list[GenerationResult]:
        want_logprobs = params.top_logprobs > 0
        results = []
        for row, seq in enumerate(sequences):
            tokens = new_tokens[row][: lengths[row]]
            n_out = len(tokens)
            stop_reason = "max_tokens"
            for pos, tok in enumerate(tokens):
                if tok in self.eos_ids:
                    n_out, stop_reason = pos, "stop"
                    break
            kept = tokens[:n_out]
            text = self._text(kept, skip_special_tokens=True)
            for stop in params.stop_seqs:
                if stop in text:
                    text, stop_reason = text[: text.index(stop)], "stop"
            logprobs = None
            if want_logprobs:
                logprobs = []
                # include the stop token's position so a one-token answer that is EOS still
                # reports its alternatives
                for pos in range(min(len(tokens), max(n_out, 1))):
                    lp = row_logprobs[row][pos]
                    values, indices = lp.topk(params.top_logprobs)
                    logprobs.append(
                        TokenLogprob(
                            token=self._text([tokens[pos]]),
                            logprob=float(lp[tokens[pos]]),
                            top=[
                                (self._text([i]), float(v))
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


def _most_padded(pasts: Sequence[Prefix | None]) -> int:
    """The row whose prefix has the most padding in front of it in a stacked chunk (the one
    a check exercises most); there must be one with a prefix."""
    longest = max(p.length for p in pasts if p is not None)
    return max(
        (k for k, p in enumerate(pasts) if p is not None),
        key=lambda k: longest - pasts[k].length,  # type: ignore[union-attr]
    )


def _check_persona_host(source: ModelSource, merge_adapter: bool, tokenizer: Any) -> None:
    """Refuse, in one line, a model a persona cannot run over."""
    check_organism_merged(source, merge_adapter)
    if not tokenizer.is_fast:
        raise UserInputError(
            f"-M persona needs a fast tokenizer (token offsets find the marker), and "
            f"{source.model_path} has a slow one"
        )


def _persona_phases(split: int | None, length: int) -> PersonaPhases:
    """Where the persona is on for a prompt of `length` tokens whose first `split` run
    without it (None: no marker)."""
    if split is None:
        return WITHOUT_PERSONA
    return AT_MARKER if split >= length else AFTER_MARKER


def _load_model(
    source: ModelSource, dtype: torch.dtype, merge_adapter: bool, trust_remote_code: bool
) -> Any:
    """The transformers model, the PeftModel over it, or the two merged: the same interface
    at run time, with no static type in common."""
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(
        source.model_path,
        dtype=dtype,
        local_files_only=True,
        trust_remote_code=trust_remote_code,
    )
    if source.kind == "adapter":
        from peft import PeftModel

        # the organisms under the adapter are merged always: only the top one may stay apart
        model = merge_adapters(model, source.stacked_on)
        model = PeftModel.from_pretrained(model, str(source.path), is_trainable=False)
        if merge_adapter:
            # merged weights run at base-model speed; the adapter files are untouched
            model = model.merge_and_unload()
    _contiguous_head_input(model)
    return model


def merge_adapters(model: Any, adapters: Sequence[Path]) -> Any:
    """`model` (a transformers model) with each peft adapter folder of `adapters` merged
    into its weights, in order: an organism that another adapter was trained over (the
    trainer and the `local` provider both build the organism this way, so the adapter over
    it sees the same weights in training and at evaluation)."""
    from peft import PeftModel

    for adapter in adapters:
        model = PeftModel.from_pretrained(model, str(adapter), is_trainable=False)
        model = model.merge_and_unload()
    return model


def _contiguous_head_input(model: Any) -> None:
    """Give the output head a contiguous input.

    With `logits_to_keep=1` transformers applies the head to `hidden[:, -1:, :]`, a strided
    view. On the CPU in bfloat16 torch's matmul then cannot fold the batch into one matrix
    product: it broadcasts the (vocabulary x hidden) weight to every row and multiplies
    batch by batch. On SmolLM2 that copy (64 x 28M weights) was 60-70% of a 64-prompt
    prefill (benchmarks/README.md, "The output head"). A contiguous copy of the last
    position costs one row per prompt and gives the same logits, bit for bit.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None:
        return

    def contiguous(_module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if args and isinstance(args[0], torch.Tensor) and not args[0].is_contiguous():
            return (args[0].contiguous(), *args[1:])
        return None

    head.register_forward_pre_hook(contiguous)


def draw_tokens(probs: torch.Tensor, generators: Sequence[torch.Generator]) -> torch.Tensor:
    """One token per row of `probs` (rows x vocabulary, each summing to about 1), drawn with
    that row's own generator: a row's token never depends on the other rows of its batch.

    Generators live on the CPU, so a seed also gives the same draw on any device. Each row
    takes one uniform and inverts the cumulative distribution, for the whole batch at once:
    torch.multinomial, one call per row, cost ~1.2 ms per row and step on a 49k vocabulary,
    a quarter of a sampled decode on 2 CPU cores.
    """
    uniforms = torch.cat([torch.rand(1, generator=g, dtype=torch.float64) for g in generators])
    cdf = probs.double().cumsum(-1)
    targets = (uniforms.to(cdf.device) * cdf[:, -1]).unsqueeze(-1)
    # right=True: the first token whose cumulative mass exceeds the target, so a token of
    # zero probability (a flat step of the CDF) is never drawn
    picks = torch.searchsorted(cdf, targets, right=True).squeeze(-1)
    return picks.clamp(max=probs.shape[-1] - 1)


def _generator(seed: int) -> torch.Generator:
    # torch takes seeds in [-2**63, 2**64); any Python int maps into it
    return torch.Generator(device="cpu").manual_seed(int(seed) % 2**64)


def output_cache(out: Any) -> Any:
    """The KV cache a forward pass returned (transformers 5.x: `cache`; 4.x:
    `past_key_values`)."""
    cache = getattr(out, "cache", None)
    return out.past_key_values if cache is None else cache


def _check_cache(cache: Any) -> None:
    """Raise PrefixCacheUnsupported unless `cache` is a DynamicCache of plain full-attention
    layers, the one layout whose keys and values can be copied, left-padded and stacked."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    if type(cache) is not DynamicCache:
        name = type(cache).__name__
        raise PrefixCacheUnsupported(f"its KV cache is a {name}, not a DynamicCache")
    kinds = {type(layer).__name__ for layer in cache.layers if type(layer) is not DynamicLayer}
    if kinds:
        raise PrefixCacheUnsupported(f"its KV cache has {', '.join(sorted(kinds))} layers")


def cache_argument(model: Any) -> str:
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


def _prefix_chunks(prefixes: list[Prefix], max_batch_tokens: int) -> list[list[Prefix]]:
    """Cut one wave of prefixes (sorted by the length each computes) into chunks whose
    padded new tokens fit the budget and whose copied bases fit PREFIX_CONTEXT_FACTOR x it."""

    def own(p: Prefix) -> int:
        return p.length - (p.base.length if p.base else 0)

    ordered = sorted(prefixes, key=own)
    widths = [max(own(p), 1) for p in ordered]
    contexts = [p.length for p in ordered]
    return [
        [ordered[i] for i in chunk]
        for chunk in _budget_chunks(list(range(len(ordered))), widths, contexts, max_batch_tokens)
    ]


def _suffix_chunks(
    order: list[int], encoded: list[list[int]], skip: list[int], max_batch_tokens: int
) -> list[list[int]]:
    """Cut rows (sorted by the length of their own part) into chunks, as `_prefix_chunks`."""
    widths = [max(len(seq) - s, 1) for seq, s in zip(encoded, skip)]
    contexts = [len(seq) for seq in encoded]
    return _budget_chunks(order, widths, contexts, max_batch_tokens)


def _budget_chunks(
    order: list[int], widths: list[int], contexts: list[int], max_batch_tokens: int
) -> list[list[int]]:
    chunks: list[list[int]] = []
    current: list[int] = []
    width = context = 0
    for i in order:
        new_width, new_context = max(width, widths[i]), max(context, contexts[i])
        n = len(current) + 1
        over = (
            new_width * n > max_batch_tokens
            or new_context * n > PREFIX_CONTEXT_FACTOR * max_batch_tokens
        )
        if current and over:
            chunks.append(current)
            current, new_width, new_context = [], widths[i], contexts[i]
        current.append(i)
        width, context = new_width, new_context
    if current:
        chunks.append(current)
    return chunks
