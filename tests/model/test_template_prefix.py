"""The local provider records what its chat template adds before the task's messages."""

from __future__ import annotations

import asyncio

from inspect_ai.model import GenerateConfig, get_model

SMOLLM_LIKE_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful AI assistant named SmolLM<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def test_the_local_provider_records_the_template_prefix_in_each_output(tiny_llama_dir):
    from honesty_evals.model.engine import LocalEngine
    from honesty_evals.model.source import ModelSource

    engine = LocalEngine(ModelSource(kind="model", path=tiny_llama_dir))
    assert engine.chat_template_prefix == "<|im_start|>user\n"  # the tests' plain ChatML
    engine.tokenizer.chat_template = SMOLLM_LIKE_TEMPLATE  # a default system prompt
    del engine.chat_template_prefix  # cached: computed again for the new template
    assert engine.chat_template_prefix == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM<|im_end|>\n"
        "<|im_start|>user\n"
    )
    model = get_model(f"local/{tiny_llama_dir}", memoize=False)
    output = asyncio.run(model.generate("hello world", config=GenerateConfig(max_tokens=1)))
    assert output.metadata == {"chat_template_prefix": "<|im_start|>user\n"}
