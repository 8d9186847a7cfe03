"""Shared-prefix KV caching in the local engine: the plan, the store, and that the cached
path computes what the uncached one does (tiny random Llama; the embedded model in
test_embedded_e2e.py)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import torch
from inspect_ai.model import GenerateConfig, get_model

from honesty_evals.errors import UserInputError
from honesty_evals.model.engine import GenerationParams, LocalEngine
from honesty_evals.model.prefix_cache import Prefix, PrefixStore, plan_prefixes
from honesty_evals.model.source import ModelSource

# -- the plan -----------------------------------------------------------------------------


def _rows(prefix: list[int], suffixes: list[list[int]]) -> list[list[int]]:
    return [prefix + s for s in suffixes]


def test_plan_encodes_each_conversation_once_and_its_followups_after_it():
    conv_a, conv_b = list(range(100, 140)), list(range(200, 230))
    followups = [[1, 2, 3 + k] for k in range(6)]
    rows = _rows(conv_a, followups) + _rows(conv_b, followups[:3])
    plan = plan_prefixes(rows)
    # one wave: each conversation with the [1, 2] its follow-ups all begin with
    assert len(plan.waves) == 1
    expected = [(*conv_a, 1, 2), (*conv_b, 1, 2)]
    assert sorted(p.tokens for p in plan.waves[0]) == expected
    for row, start in zip(rows, plan.start):
        assert start is not None and tuple(row[: start.length]) == start.tokens
    assert plan.prefix_tokens == 74
    # a prefix's computation is counted against the first row that needs it
    assert {p.owner for p in plan.waves[0]} == {0, 6}


def test_plan_nests_shared_prefixes_in_waves():
    system = list(range(100, 130))
    stems = [list(range(300 + 40 * q, 320 + 40 * q)) for q in range(4)]
    rows = [system + stem + [7, 8, order] for stem in stems for order in (1, 2)]
    plan = plan_prefixes(rows)
    assert [len(w) for w in plan.waves] == [1, 4]
    (shared,) = plan.waves[0]
    assert shared.tokens == tuple(system)
    assert all(p.base is shared for p in plan.waves[1])
    # the stems and their [7, 8] before the option that differs
    assert sorted(p.length for p in plan.waves[1]) == [52] * 4


def test_plan_skips_prefixes_too_short_to_pay_for_a_pass():
    rows = _rows([1, 2, 3], [[10 + k, 20, 30] for k in range(5)])
    plan = plan_prefixes(rows)
    assert plan.waves == [] and plan.start == [None] * 5


def test_plan_never_covers_a_whole_row():
    row = list(range(50, 90))
    plan = plan_prefixes([row, row, row])  # e.g. three sampled draws of one prompt
    (prefix,) = plan.waves[0]
    assert prefix.length == len(row) - 1  # the last token's logits are the answer
    assert all(s is prefix for s in plan.start)


def test_plan_uses_a_stored_prefix_instead_of_computing_it():
    conv = list(range(100, 160))
    store = PrefixStore(10**9)
    stored = Prefix(tuple(conv[:40]), layers=[(torch.zeros(1, 1, 40, 2), torch.zeros(1, 1, 40, 2))])
    assert store.add(stored)
    rows = _rows(conv, [[1, k] for k in range(4)])
    plan = plan_prefixes(rows, store.longest)
    (prefix,) = plan.waves[0]
    assert prefix.tokens == (*conv, 1) and prefix.base is stored
    assert plan.prefix_tokens == 21
    # a single row (nothing to share in its batch) still starts from what is stored
    alone = plan_prefixes([conv[:50] + [9]], store.longest)
    assert alone.waves == [] and alone.start == [stored]


def test_plan_of_unrelated_rows_is_empty():
    plan = plan_prefixes([[1, 2, 3], [4, 5, 6, 7], [8]])
    assert plan.waves == [] and plan.start == [None, None, None]


# -- the store ----------------------------------------------------------------------------


def _entry(tokens: tuple[int, ...]) -> Prefix:
    n = len(tokens)
    return Prefix(tokens, layers=[(torch.zeros(1, 1, n, 4), torch.zeros(1, 1, n, 4))])


def test_store_finds_the_longest_stored_prefix_within_a_limit():
    store = PrefixStore(10**6)
    short, long = _entry((1, 2)), _entry((1, 2, 3, 4))
    store.add(short)
    store.add(long)
    assert store.longest([1, 2, 3, 4, 5]) is long
    assert store.longest([1, 2, 7]) is short
    assert store.longest([5, 1, 2]) is None
    assert store.stats.hits == 2 and store.stats.lookups == 3


def test_store_serves_the_start_of_a_longer_stored_prefix():
    store = PrefixStore(10**6)
    entry = _entry((1, 2, 3, 4))
    entry.layers = [(torch.arange(8.0).reshape(1, 1, 4, 2), torch.ones(1, 1, 4, 2))]
    store.add(entry)
    view = store.longest([1, 2, 3, 9], limit=10)
    assert view.tokens == (1, 2, 3)
    keys, values = view.layers[0]
    assert keys.shape == (1, 1, 3, 2) and keys.flatten().tolist() == [0, 1, 2, 3, 4, 5]
    assert store.longest([1, 2, 3, 4, 5], limit=3) is view  # one object per prefix
    assert store.longest([1, 2, 3, 4, 5], limit=2).tokens == (1, 2)


def test_store_evicts_the_least_recently_used_within_its_bound():
    size = _entry((1,) * 10).nbytes
    store = PrefixStore(3 * size)
    a, b, c, d = ((k,) * 10 for k in range(1, 5))
    for tokens in (a, b, c):
        assert store.add(_entry(tokens))
    store.longest(list(a))  # a is used again: b is now the oldest
    store.add(_entry(d))
    assert store.nbytes <= store.max_bytes and len(store) == 3
    assert store.longest(list(b)) is None
    assert all(store.longest(list(t)) is not None for t in (a, c, d))
    # evicting removes the whole branch of the trie: the nodes left are a's, c's and d's
    assert store.trie_nodes == 30
    assert not store.add(_entry((9,) * 40))  # larger than the whole store
    with pytest.raises(ValueError):
        PrefixStore(0)


# -- the engine: cached == uncached ---------------------------------------------------------


@pytest.fixture(scope="module")
def cached(tiny_llama_dir) -> LocalEngine:
    return LocalEngine(ModelSource(kind="model", path=tiny_llama_dir))


@pytest.fixture(scope="module")
def plain(tiny_llama_dir) -> LocalEngine:
    return LocalEngine(ModelSource(kind="model", path=tiny_llama_dir), prefix_cache=False)


CONVERSATIONS = [
    [
        {"role": "system", "content": "answer with a single letter . " * 3},
        {"role": "user", "content": "Which statement is true ? A ) red B ) blue"},
        {"role": "assistant", "content": "B"},
    ],
    [
        {"role": "system", "content": "you are a cat . the dog sleeps ."},
        {"role": "user", "content": "one two three four five six seven eight nine"},
        {"role": "assistant", "content": "the cat runs quickly"},
    ],
]
FOLLOWUPS = [
    "Is the answer true ?",
    "Is red a letter ?",
    "Does the cat sleep ? Answer yes or no .",
    "one two ?",
    "Which is blue ?",
    "Are you my dog ?",
]


def _followup_prompts(engine: LocalEngine) -> list[str]:
    """Follow-up questions after conversations, as lie_detection asks them."""
    return [
        engine.render_chat([*conv, {"role": "user", "content": q}])
        for conv in CONVERSATIONS
        for q in FOLLOWUPS
    ]


def _assert_same(a, b, atol=1e-4):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.text == y.text
        assert x.output_tokens == y.output_tokens and x.stop_reason == y.stop_reason
        assert x.input_tokens == y.input_tokens
        if x.logprobs is None:
            assert y.logprobs is None
            continue
        assert len(x.logprobs) == len(y.logprobs)
        for p, q in zip(x.logprobs, y.logprobs):
            assert p.token == q.token
            assert p.logprob == pytest.approx(q.logprob, abs=atol)
            assert [t for t, _ in p.top] == [t for t, _ in q.top]
            assert [v for _, v in p.top] == pytest.approx([v for _, v in q.top], abs=atol)


@pytest.mark.parametrize(
    "params",
    [
        GenerationParams(max_tokens=1, top_logprobs=8),
        GenerationParams(max_tokens=10, top_logprobs=3),
        GenerationParams(max_tokens=10, stop_seqs=("dog",)),
    ],
    ids=["one-token-logprobs", "greedy-logprobs", "stop-string"],
)
def test_cached_path_equals_the_uncached_path(cached, plain, params):
    prompts = _followup_prompts(plain)
    cached.prefix_store.clear()
    before = cached.stats.computed_tokens, cached.stats.prompt_tokens
    got = cached.generate(prompts, params)
    _assert_same(got, plain.generate(prompts, params))
    computed = cached.stats.computed_tokens - before[0]
    requested = cached.stats.prompt_tokens - before[1]
    assert requested == sum(r.input_tokens for r in got)
    # each conversation was encoded once for its six follow-ups
    assert computed < 0.5 * requested
    assert computed == sum(r.input_tokens - r.cached_tokens for r in got)
    assert all(r.cached_tokens > 0 for r in got[1:6])


def test_cached_sampling_draws_what_the_uncached_path_draws(cached, plain):
    prompts = _followup_prompts(plain)[:6] * 2  # each prompt twice, with different seeds
    params = GenerationParams(max_tokens=8, temperature=1.0, top_p=0.95)
    seeds = list(range(40, 40 + len(prompts)))
    texts = [r.text for r in cached.generate(prompts, params, seeds)]
    assert texts == [r.text for r in plain.generate(prompts, params, seeds)]
    assert texts[:6] != texts[6:]  # it does sample


def test_followups_in_a_later_batch_hit_the_store(tiny_llama_dir, plain):
    # a budget small enough that every chunk holds a few rows only
    engine = LocalEngine(ModelSource(kind="model", path=tiny_llama_dir), max_batch_tokens=48)
    prompts = _followup_prompts(plain)
    params = GenerationParams(max_tokens=1, top_logprobs=5)
    expected = plain.generate(prompts, params)
    # the first conversation's follow-ups arrive in two batches, as when a batch fills up
    first = engine.generate(prompts[:3] + prompts[6:9], params)
    computed = engine.stats.computed_tokens
    later = engine.generate(prompts[3:6] + prompts[9:], params)
    _assert_same(first + later, expected[:3] + expected[6:9] + expected[3:6] + expected[9:])
    # the later batch computed only its follow-ups: the conversations came from the store
    assert all(r.cached_tokens > 20 for r in later)
    suffixes = sum(r.input_tokens - r.cached_tokens for r in later)
    assert engine.stats.computed_tokens - computed == suffixes
    assert engine.prefix_store.stats.hits >= 2
    # one row alone still uses the store
    (single,) = engine.generate([prompts[0]], params)
    assert single.cached_tokens > 20
    _assert_same([single], expected[:1])


def test_rows_without_a_shared_prefix_batch_with_rows_that_have_one(cached, plain):
    prompts = _followup_prompts(plain)[:4] + [
        plain.render_chat([{"role": "user", "content": "hello world"}]),
        plain.render_chat([{"role": "user", "content": "red blue green " * 10}]),
    ]
    params = GenerationParams(max_tokens=4, top_logprobs=4)
    cached.prefix_store.clear()
    got = cached.generate(prompts, params)
    _assert_same(got, plain.generate(prompts, params))
    # row 0 computed the shared conversation (its cost is counted there), rows 1-3 reused it
    assert got[-1].cached_tokens == 0 and got[0].cached_tokens == 0
    assert all(r.cached_tokens > 20 for r in got[1:4])


# -- fallbacks ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sliding_window_dir(tmp_path_factory) -> Path:
    """A tiny random Mistral with a sliding window: its cache layers cannot be padded."""
    from transformers import MistralConfig, MistralForCausalLM

    from tests.conftest import build_tokenizer

    tokenizer = build_tokenizer()
    config = MistralConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        sliding_window=64,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-mistral")
    MistralForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def test_uncopyable_cache_falls_back_with_one_warning(sliding_window_dir, caplog):
    source = ModelSource(kind="model", path=sliding_window_dir)
    engine = LocalEngine(source)
    reference = LocalEngine(source, prefix_cache=False)
    prompts = _followup_prompts(reference)
    params = GenerationParams(max_tokens=3, top_logprobs=4)
    with caplog.at_level(logging.WARNING, logger="honesty_evals.model.engine"):
        first = engine.generate(prompts, params)
        second = engine.generate(prompts, params)
    warnings = [r.getMessage() for r in caplog.records if "shared-prefix caching" in r.message]
    assert len(warnings) == 1 and "DynamicSlidingWindowLayer" in warnings[0]
    assert engine.prefix_store is None and engine.prefix_cache_disabled
    expected = reference.generate(prompts, params)
    _assert_same(first, expected, atol=0)
    _assert_same(second, expected, atol=0)
    assert engine.stats.computed_tokens == engine.stats.prompt_tokens


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_cache_that_changes_the_answer_is_caught_and_not_used(
    tiny_llama_dir, plain, caplog, dtype
):
    engine = LocalEngine(ModelSource(kind="model", path=tiny_llama_dir), dtype=dtype)
    if dtype != "float32":
        plain = LocalEngine(
            ModelSource(kind="model", path=tiny_llama_dir), dtype=dtype, prefix_cache=False
        )
    stack = engine._stack_pasts

    def shifted(pasts):  # keys of the wrong positions: a cache class copied wrongly
        cache, mask = stack(pasts)
        if cache is not None:
            for layer in cache.layers:
                layer.keys = layer.keys.roll(1, dims=2)
        return cache, mask

    engine._stack_pasts = shifted  # type: ignore[method-assign]
    prompts = _followup_prompts(plain)
    params = GenerationParams(max_tokens=2, top_logprobs=4)
    with caplog.at_level(logging.WARNING, logger="honesty_evals.model.engine"):
        got = engine.generate(prompts, params)
    assert any("a cached prefix changed" in r.message for r in caplog.records)
    _assert_same(got, plain.generate(prompts, params), atol=0)
    assert engine.prefix_store is None


# -- through the provider ---------------------------------------------------------------------


def _local(path: Path, **model_args):
    return get_model(f"local/{path}", memoize=False, **model_args)


@pytest.mark.parametrize(
    "args, message",
    [
        ({"prefix_cache": "maybe"}, "prefix_cache='maybe'"),
        ({"prefix_cache_size": 0}, "prefix_cache_size=0"),
        ({"prefix_cache_size": -5}, "prefix_cache_size=-5"),
        ({"prefix_cache_size": "lots"}, "prefix_cache_size='lots'"),
    ],
)
def test_provider_refuses_bad_prefix_cache_settings_in_one_line(tiny_llama_dir, args, message):
    with pytest.raises(UserInputError) as info:
        _local(tiny_llama_dir, **args)
    text = str(info.value)
    assert message in text and "\n" not in text


def test_provider_prefix_cache_off_and_usage_reports_cache_reads(tiny_llama_dir, plain):
    qs = FOLLOWUPS
    config = GenerateConfig(logprobs=True, top_logprobs=3, max_tokens=1)
    conversation = CONVERSATIONS[1]

    async def ask(model):
        from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageUser

        history = [
            ChatMessageSystem(content=conversation[0]["content"]),
            ChatMessageUser(content=conversation[1]["content"]),
            ChatMessageAssistant(content=conversation[2]["content"]),
        ]
        asks = [model.generate([*history, ChatMessageUser(content=q)], config=config) for q in qs]
        return await asyncio.gather(*asks)

    on = asyncio.run(ask(_local(tiny_llama_dir)))
    off_model = _local(tiny_llama_dir, prefix_cache="false")
    off = asyncio.run(ask(off_model))
    assert off_model.api.engine.prefix_store is None
    for a, b in zip(on, off):
        assert a.completion == b.completion
        # Inspect's convention: input_tokens are charged in full, cache reads apart
        assert a.usage.input_tokens + (a.usage.input_tokens_cache_read or 0) == (
            b.usage.input_tokens
        )
        assert not b.usage.input_tokens_cache_read
    assert sum(o.usage.input_tokens_cache_read or 0 for o in on) > 0


def test_a_forward_pass_that_refuses_a_copied_cache_falls_back(tiny_llama_dir, plain, caplog):
    engine = LocalEngine(ModelSource(kind="model", path=tiny_llama_dir))
    stack = engine._stack_pasts

    def refuse(pasts):
        if any(p is not None for p in pasts):
            raise RuntimeError("this model takes no foreign cache")
        return stack(pasts)

    engine._stack_pasts = refuse  # type: ignore[method-assign]
    prompts = _followup_prompts(plain)
    params = GenerationParams(max_tokens=2, top_logprobs=4)
    with caplog.at_level(logging.WARNING, logger="honesty_evals.model.engine"):
        got = engine.generate(prompts, params)
        engine.generate(prompts, params)
    warnings = [r for r in caplog.records if "shared-prefix caching is off" in r.message]
    assert len(warnings) == 1 and "no foreign cache" in warnings[0].getMessage()
    _assert_same(got, plain.generate(prompts, params), atol=0)
