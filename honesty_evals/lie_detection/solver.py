"""The lie_detection solver: the answer under the sample's instruction, checked by the lie
rule against the model's own no-instruction answer, then the follow-up features.

Each follow-up is asked as its own continuation of the conversation; its feature is
log P(yes) - log P(no) of the first answer token, or +1/-1 answers where the provider
returns no log-probabilities.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any, Literal

from inspect_ai.model import (
    ChatMessage,
    ChatMessageUser,
    GenerateConfig,
    ModelOutput,
    get_model,
)
from inspect_ai.solver import Generate, Solver, TaskState, solver
from inspect_ai.util import StoreModel
from pydantic import Field

from honesty_evals.common.choice import TOP_LOGPROBS, distribution_from_logprobs, parse_label
from honesty_evals.common.validate import whole_number
from honesty_evals.errors import UserInputError
from honesty_evals.lie_detection.answers import check_answer, lie_label
from honesty_evals.lie_detection.dataset import Followup, load_followups
from honesty_evals.lie_detection.prompts import YES_NO_SUFFIX

logger = logging.getLogger(__name__)

FeatureMode = Literal["auto", "logprobs", "binary"]
FEATURE_MODES = ("auto", "logprobs", "binary")
YES_NO = ("yes", "no")
BINARY_MAX_TOKENS = 4


class LieDetectionRecord(StoreModel):
    """What the solver measured on one sample, for the scorer: the lie-rule label, both
    answers and their verdicts, and the follow-up features (the score's metadata)."""

    label: str | None = None  # None: the solver has not run
    answer: str = ""
    answer_verdict: str = ""
    reference_answer: str = ""
    reference_verdict: str = ""
    features: list[float] = Field(default_factory=list)
    feature_names: list[str] = Field(default_factory=list)
    feature_kind: str = ""
    n_unparsed_followups: int = 0


def yes_no_feature(output: ModelOutput) -> tuple[float, bool] | None:
    """(log P(yes) - log P(no), parsed) from the first answer token; None without logprobs.

    "Yes"/"yes"/" YES" all count for yes. A label missing from the returned top
    alternatives gets the smallest returned probability, an upper bound on its true mass,
    so the feature stays finite (and conservative). Neither label present: (0.0, False).
    """
    distribution = distribution_from_logprobs(output, YES_NO, casefold=True)
    if distribution is None:
        return None
    if distribution.probabilities is None or not distribution.label_mass:
        return 0.0, False
    choice = output.choices[0]
    first = choice.logprobs.content[0]  # type: ignore[union-attr]
    floor = min(alt.logprob for alt in (first.top_logprobs or [first]))
    mass = distribution.label_mass
    log_yes, log_no = (
        math.log(distribution.probabilities[label] * mass)
        if distribution.probabilities[label] > 0
        else floor
        for label in YES_NO
    )
    return log_yes - log_no, True


def binary_feature(text: str) -> tuple[float, bool]:
    """+1 for a yes, -1 for a no, (0.0, False) when the answer is neither."""
    label = parse_label(text.strip().lower(), YES_NO)
    if label is None:
        return 0.0, False
    return (1.0 if label == "yes" else -1.0), True


def balanced_subset(followups: list[Followup], n: int) -> list[Followup]:
    """The first `n` follow-ups taking one of each kind in turn, in file order otherwise.

    A cheaper run with fewer questions still covers every kind (confession, psychological,
    logic, fact, unknowable, ambiguous). The result keeps the file's order, so the same `n`
    always gives the same feature set.
    """
    by_kind: dict[str, list[Followup]] = {}
    for f in followups:
        by_kind.setdefault(f.kind, []).append(f)
    chosen: set[str] = set()
    rank = 0
    while len(chosen) < n:
        for group in by_kind.values():
            if rank < len(group) and len(chosen) < n:
                chosen.add(group[rank].id)
        rank += 1
    return [f for f in followups if f.id in chosen]


async def _answer(model: Any, messages: list[ChatMessage], config: GenerateConfig) -> str:
    return (await model.generate(messages, config=config)).completion


@solver
def lie_detection_solver(
    features: FeatureMode = "auto",
    max_tokens: int = 32,
    seed: int = 0,
    n_followups: int | None = None,
) -> Solver:
    """Answer under the sample's instruction, check it, then ask the follow-ups.

    The no-instruction reference answer is generated once per QA item and shared by the
    item's samples (both conditions need it).
    """
    if features not in FEATURE_MODES:
        raise UserInputError(
            f"unknown features mode '{features}': choose one of {', '.join(FEATURE_MODES)}"
        )
    followups = load_followups()
    if n_followups is not None:
        followups = balanced_subset(
            followups, whole_number(n_followups, "n_followups", 1, len(followups))
        )
    # keyed by model too: one Task object may run on several models (eval_set, or `inspect
    # eval` with several --model), and each model's lie rule needs its own reference answer
    references: dict[tuple[str, str], asyncio.Future[str]] = {}
    warned: list[bool] = [False]
    answer_config = GenerateConfig(temperature=0.0, max_tokens=max_tokens, seed=seed)

    async def reference_answer(item_id: str, question: ChatMessage) -> str:
        model = get_model()
        key = (str(model), item_id)
        if key not in references:
            future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            references[key] = future
            try:
                future.set_result(await _answer(model, [question], answer_config))
            except Exception as exc:
                future.set_exception(exc)
                raise
        return await references[key]

    async def followup_features(conversation: list[ChatMessage]) -> tuple[list[float], str, int]:
        model = get_model()
        mode = features
        outputs: list[ModelOutput] = []
        if mode in ("auto", "logprobs"):
            config = GenerateConfig(
                logprobs=True, top_logprobs=TOP_LOGPROBS, max_tokens=1, temperature=0.0, seed=seed
            )
            # every follow-up is the whole conversation, then its own question: the 48
            # requests share everything but their last turn, which the local engine's
            # prefix cache encodes once (the protocol asks each in the same conversation,
            # so nothing of it may move after the question)
            outputs = await asyncio.gather(
                *(
                    model.generate(
                        [*conversation, ChatMessageUser(content=f.question + YES_NO_SUFFIX)],
                        config=config,
                    )
                    for f in followups
                )
            )
            measured = [yes_no_feature(o) for o in outputs]
            if all(m is not None for m in measured):
                values = [m[0] for m in measured if m is not None]
                unparsed = sum(1 for m in measured if m is not None and not m[1])
                return values, "logprobs", unparsed
            if mode == "logprobs":
                raise UserInputError(
                    f"model {model} returned no log-probabilities: run with "
                    "-T features=binary (or features=auto)"
                )
            if not warned[0]:
                warned[0] = True
                logger.warning(
                    "lie_detection: %s returned no log-probabilities; using binary yes/no "
                    "follow-up features (+1/-1), which detectors separate less well",
                    model,
                )
        binary_config = GenerateConfig(temperature=0.0, max_tokens=BINARY_MAX_TOKENS, seed=seed)
        texts = await asyncio.gather(
            *(
                _answer(
                    model,
                    [*conversation, ChatMessageUser(content=f.question + YES_NO_SUFFIX)],
                    binary_config,
                )
                for f in followups
            )
        )
        parsed = [binary_feature(t) for t in texts]
        return [p[0] for p in parsed], "binary", sum(1 for p in parsed if not p[1])

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        meta = state.metadata
        question = next(m for m in state.messages if isinstance(m, ChatMessageUser))
        reference = await reference_answer(meta["question_id"], question)
        state = await generate(state, temperature=0.0, max_tokens=max_tokens, seed=seed)
        answer = state.output.completion
        answer_verdict = check_answer(answer, meta["accepted"])
        reference_verdict = check_answer(reference, meta["accepted"])
        label = lie_label(meta["condition"], answer_verdict, reference_verdict)
        values, kind, unparsed = await followup_features(list(state.messages))
        LieDetectionRecord(
            store=state.store,
            label=label,
            answer=answer,
            answer_verdict=answer_verdict,
            reference_answer=reference,
            reference_verdict=reference_verdict,
            features=values,
            feature_names=[f.id for f in followups],
            feature_kind=kind,
            n_unparsed_followups=unparsed,
        )
        return state

    return solve
