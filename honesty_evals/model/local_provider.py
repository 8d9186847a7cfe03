"""The `local` Inspect model provider: `--model local/smollm2` or `--model local/<dir>`.

Requests arriving together (Inspect runs samples concurrently) are gathered until arrivals
go quiet and generated as one batch in a worker thread, so a task's forward passes share
matrix multiplies instead of running one prompt at a time.

Each prompt of a batch samples from its own seed: the request's `seed` (`GenerateConfig`),
else one derived from the model-level `-M seed=` and the prompt; choice k > 0 of a request
asking for several derives its own (`common.seeds`). An answer therefore never depends on
which requests share its batch or arrive first.

`-M persona=DIR` loads a persona adapter over the model, active only after its marker
(`-M persona_marker=`, default the one its training card records; `model.persona`); each
output's metadata says whether its prompt held the marker.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import threading
from dataclasses import dataclass
from typing import Any

import anyio
from inspect_ai.model import (
    ChatCompletionChoice,
    ChatMessage,
    ChatMessageAssistant,
    GenerateConfig,
    Logprob,
    Logprobs,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    TopLogprob,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from honesty_evals.common.seeds import choice_seed, request_seed
from honesty_evals.common.validate import integer, strict_bool
from honesty_evals.errors import UserInputError, user_errors
from honesty_evals.model.devices import resolve_device_dtype
from honesty_evals.model.engine import (
    CPU_DTYPE,
    DEFAULT_MAX_BATCH_TOKENS,
    GenerationParams,
    GenerationResult,
    LocalEngine,
)
from honesty_evals.model.persona import (
    PERSONA_METADATA_KEY,
    PersonaAdapter,
    check_organism_merged,
    resolve_persona,
)
from honesty_evals.model.prefix_cache import DEFAULT_PREFIX_CACHE_MB
from honesty_evals.model.source import ModelSource, resolve_model_source

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 64
DEFAULT_MAX_TOKENS = 256
# A batch starts once no new request has arrived for BATCH_QUIET_SECONDS (Inspect starts
# samples over a few hundred ms), or after BATCH_MAX_WAIT_SECONDS, or when it is full.
BATCH_QUIET_SECONDS = 0.05
BATCH_MAX_WAIT_SECONDS = 1.0


class LocalModelAPI(ModelAPI):
    """Inspect provider for local transformers models and peft adapters (never a hub)."""

    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig | None = None,
        **model_args: Any,
    ) -> None:
        # one line (not a traceback) for a bad -M value or model folder, in `inspect eval` too
        with user_errors():
            self._init(model_name, base_url, api_key, config, model_args)

    def _init(
        self,
        model_name: str,
        base_url: str | None,
        api_key: str | None,
        config: GenerateConfig | None,
        model_args: dict[str, Any],
    ) -> None:
        config = config or GenerateConfig()
        if config.adaptive_connections is None:
            # Inspect's adaptive concurrency (slow start from ~20 connections) is for
            # rate-limited APIs; a local batched model wants every request at once, up to
            # max_connections() = batch_size. Inspect's Model shares this config object.
            config.adaptive_connections = False
        super().__init__(model_name=model_name, base_url=base_url, api_key=api_key, config=config)
        known = {
            "base",
            "dtype",
            "device",
            "seed",
            "batch_size",
            "max_batch_tokens",
            "merge_adapter",
            "trust_remote_code",
            "prefix_cache",
            "prefix_cache_size",
            "persona",
            "persona_marker",
        }
        unknown = sorted(set(model_args) - known)
        if unknown:
            raise UserInputError(
                f"unknown model argument(s) {', '.join(unknown)} for local/{model_name}: "
                f"the local provider takes -M {', -M '.join(sorted(known))}"
            )

        # validate everything now (bad paths and options fail before any sample runs), but
        # load the weights on the first request: Inspect also builds throwaway instances,
        # e.g. for model-info lookups, which must not load a second copy. The cheap option
        # checks come first: resolving `smollm2` may convert the embedded model.
        def arg(name: str, default: Any) -> Any:
            return model_args.get(name, default)

        # batch_size 0 would gather requests forever (a hang with no output)
        self.batch_size = integer(arg("batch_size", DEFAULT_BATCH_SIZE), "-M batch_size", 1)
        max_batch_tokens = integer(
            arg("max_batch_tokens", DEFAULT_MAX_BATCH_TOKENS), "-M max_batch_tokens", 1
        )
        seed = integer(arg("seed", 0), "-M seed")
        merge_adapter = strict_bool(arg("merge_adapter", True), "-M merge_adapter")
        trust_remote_code = strict_bool(arg("trust_remote_code", False), "-M trust_remote_code")
        prefix_cache = _prefix_cache_options(model_args)
        device, dtype = resolve_device_dtype(
            str(arg("device", "auto")),
            str(arg("dtype", "auto")),
            cpu_dtype=CPU_DTYPE,
            device_flag="-M device",
            dtype_flag="-M dtype",
        )
        base = arg("base", None)
        if base is not None and (not isinstance(base, str) or not base.strip()):
            raise UserInputError(f"-M base={base!r} is not a model: give a model folder or smollm2")
        self._source = resolve_model_source(model_name, base=base)
        persona = _persona_option(model_args, self._source, model_name, merge_adapter)
        self._engine_options: dict[str, Any] = dict(
            dtype=dtype,
            device=device,
            seed=seed,
            max_batch_tokens=max_batch_tokens,
            merge_adapter=merge_adapter,
            trust_remote_code=trust_remote_code,
            persona=persona,
            **prefix_cache,
        )
        self._batcher = _Batcher(self._generate_batch, self.batch_size)
        # the key of the loaded engine (load_engine): one request pool per loaded model
        settings = repr(_engine_key(self._source, self._engine_options)).encode()
        self._connection_key = f"{model_name}:{hashlib.sha256(settings).hexdigest()[:16]}"

    @property
    def engine(self) -> LocalEngine:
        """The loaded model (loaded on first access, shared by equal settings)."""
        return load_engine(self._source, **self._engine_options)

    def _generate_batch(self, rows: list[_Row], params: GenerationParams) -> list[GenerationResult]:
        engine = self.engine  # runs in the worker thread, so loading never blocks the loop
        prompts = [engine.render_chat(row.messages) for row in rows]
        seeds = []
        for prompt, row in zip(prompts, rows):
            # a request without a seed gets one from the model seed and its prompt, so its
            # answer does not depend on the other requests (see common.seeds)
            base = request_seed(engine.seed, prompt) if row.seed is None else row.seed
            seeds.append(choice_seed(base, row.choice))
        return engine.generate(prompts, params, seeds)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        if tools:
            raise UserInputError(
                f"local/{self.model_name} does not support tool calling; use a task without tools"
            )
        messages = [{"role": m.role, "content": m.text} for m in input]
        params = GenerationParams(
            max_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=config.temperature,
            top_p=config.top_p,
            top_k=config.top_k,
            top_logprobs=(max(config.top_logprobs or 1, 1) if config.logprobs else 0),
            stop_seqs=tuple(config.stop_seqs or ()),
        )
        results = await self._batcher.submit(
            messages, params, config.seed, max(config.num_choices or 1, 1)
        )
        output = _model_output(self.model_name, results)
        # the text the chat template adds before the first user message (a default system
        # prompt), recorded so that a log comparing providers shows it (issue 17)
        metadata: dict[str, Any] = {"chat_template_prefix": self.engine.chat_template_prefix}
        persona = self.engine.persona
        if persona is not None:
            # a prompt without the marker was answered without the persona: a task that
            # needs the persona's answer counts it as unparsed (confession does)
            metadata[PERSONA_METADATA_KEY] = {
                "adapter": str(persona.path),
                "marker": persona.marker,
                "marker_found": bool(results[0].persona_marker_found),
            }
        output.metadata = metadata
        return output

    def max_tokens(self) -> int | None:
        return DEFAULT_MAX_TOKENS

    def max_connections(self) -> int:
        # Inspect sends up to this many requests at once: it is effectively the batch size
        return self.batch_size

    def connection_key(self) -> str:
        # One request pool per loaded model. Inspect's default key ("default") gave every
        # local model one shared pool of `batch_size` requests, so in an audit the candidate's
        # full batch starved the baseline's and the two engines took turns (overlapping 8%
        # of a pre-release audit) instead of sharing the cores.
        return self._connection_key

    def collapse_user_messages(self) -> bool:
        return True


_ENGINES: dict[tuple[Any, ...], LocalEngine] = {}
_ENGINES_LOCK = threading.Lock()


def loaded_engines() -> list[LocalEngine]:
    """Engines loaded in this process (their `stats` say how much work they did)."""
    return list(_ENGINES.values())


def release_engines() -> int:
    """Forget every loaded model (how many), so a long run over many models (the
    faithfulness experiment) holds one at a time; a later request loads it again."""
    with _ENGINES_LOCK:
        n = len(_ENGINES)
        _ENGINES.clear()
    import gc

    gc.collect()
    return n


def _engine_key(source: ModelSource, options: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two loaded engines the same: the model and every engine option."""
    return (source, *sorted(options.items()))


def load_engine(source: ModelSource, **options: Any) -> LocalEngine:
    """Load a model once per process; provider instances with equal settings share it."""
    key = _engine_key(source, options)
    with _ENGINES_LOCK:
        if key not in _ENGINES:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            _ENGINES[key] = LocalEngine(source, **options)
        return _ENGINES[key]


def _model_output(model_name: str, results: list[GenerationResult]) -> ModelOutput:
    choices = []
    for result in results:
        logprobs = None
        if result.logprobs is not None:
            logprobs = Logprobs(
                content=[
                    Logprob(
                        token=lp.token,
                        logprob=lp.logprob,
                        bytes=list(lp.token.encode("utf-8")),
                        top_logprobs=[
                            TopLogprob(token=t, logprob=v, bytes=list(t.encode("utf-8")))
                            for t, v in lp.top
                        ],
                    )
                    for lp in result.logprobs
                ]
            )
        choices.append(
            ChatCompletionChoice(
                message=ChatMessageAssistant(
                    content=result.text, model=model_name, source="generate"
                ),
                stop_reason="max_tokens" if result.stop_reason == "max_tokens" else "stop",
                logprobs=logprobs,
            )
        )
    # Inspect's convention (ModelUsage): input_tokens are those computed at full cost and
    # input_tokens_cache_read those taken from a cache, so the eval log's usage shows the
    # prefix cache's work saved. Choices share the request's prompt: counted once, as sent.
    prompt, cached = results[0].input_tokens, results[0].cached_tokens
    output_tokens = sum(r.output_tokens for r in results)
    return ModelOutput(
        model=model_name,
        choices=choices,
        usage=ModelUsage(
            input_tokens=prompt - cached,
            input_tokens_cache_read=cached or None,
            output_tokens=output_tokens,
            total_tokens=prompt + output_tokens,
        ),
    )


@dataclass(frozen=True)
class _Row:
    """One prompt of a batch: choice `choice` of a request with `messages` and `seed`."""

    messages: list[dict[str, str]]
    seed: int | None
    choice: int


@dataclass
class _Pending:
    messages: list[dict[str, str]]
    params: GenerationParams
    seed: int | None
    n: int
    future: asyncio.Future[list[GenerationResult]]


class _Batcher:
    """Gathers concurrent requests with equal parameters and generates them together
    (seeds may differ: each prompt of a batch samples from its own)."""

    def __init__(self, run_batch: Any, max_batch: int) -> None:
        self._run_batch = run_batch
        self._max_batch = max_batch
        self._pending: list[_Pending] = []
        self._worker: asyncio.Task[None] | None = None

    async def submit(
        self,
        messages: list[dict[str, str]],
        params: GenerationParams,
        seed: int | None,
        n: int,
    ) -> list[GenerationResult]:
        future: asyncio.Future[list[GenerationResult]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(messages, params, seed, n, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            await self._gather_arrivals()
            params = self._pending[0].params
            batch: list[_Pending] = []
            rest: list[_Pending] = []
            for item in self._pending:
                same = item.params == params and len(batch) < self._max_batch
                (batch if same else rest).append(item)
            self._pending = rest
            rows = [
                _Row(item.messages, item.seed, choice) for item in batch for choice in range(item.n)
            ]
            logger.debug("local: generating a batch of %d prompts", len(rows))
            try:
                flat = await anyio.to_thread.run_sync(self._run_batch, rows, params)
            except Exception as exc:  # hand the failure to every waiting request
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            offset = 0
            for item in batch:
                if not item.future.done():
                    item.future.set_result(flat[offset : offset + item.n])
                offset += item.n

    async def _gather_arrivals(self) -> None:
        """Wait while requests are still arriving, so concurrent samples share a batch."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BATCH_MAX_WAIT_SECONDS
        seen = -1
        while len(self._pending) != seen and len(self._pending) < self._max_batch:
            if loop.time() >= deadline:
                break
            seen = len(self._pending)
            await asyncio.sleep(BATCH_QUIET_SECONDS)


def _persona_option(
    model_args: dict[str, Any], source: ModelSource, model_name: str, merge_adapter: bool
) -> PersonaAdapter | None:
    """-M persona=DIR (and -M persona_marker=), checked against the model it is loaded over;
    None without -M persona."""
    persona, marker = model_args.get("persona"), model_args.get("persona_marker")
    if persona is None:
        if marker is not None:
            raise UserInputError(
                "-M persona_marker needs -M persona=DIR: the persona adapter it switches on"
            )
        return None
    check_organism_merged(source, merge_adapter)
    return resolve_persona(persona, marker, source, model_name)


def _prefix_cache_options(model_args: dict[str, Any]) -> dict[str, Any]:
    """-M prefix_cache=true|false (default true) and -M prefix_cache_size=MiB (default
    DEFAULT_PREFIX_CACHE_MB), refused in one line when they are not that."""
    enabled = model_args.get("prefix_cache", True)
    if isinstance(enabled, str) and enabled.strip().lower() in {"true", "false"}:
        enabled = enabled.strip().lower() == "true"
    if not isinstance(enabled, bool):
        raise UserInputError(
            f"-M prefix_cache={enabled!r}: give true (encode shared prompt prefixes once, the "
            "default) or false"
        )
    size = model_args.get("prefix_cache_size", DEFAULT_PREFIX_CACHE_MB)
    try:
        mb = float(size)
    except (TypeError, ValueError):
        mb = math.nan
    if isinstance(size, bool) or not (math.isfinite(mb) and mb > 0):
        raise UserInputError(
            f"-M prefix_cache_size={size!r}: give the prefix cache's bound in MiB, a number "
            f"above 0 (default {DEFAULT_PREFIX_CACHE_MB})"
        )
    return {"prefix_cache": enabled, "prefix_cache_mb": mb}
