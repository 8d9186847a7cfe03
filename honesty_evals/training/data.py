"""Chat records (JSONL, Parquet or a `save_to_disk` folder) -> token ids + loss mask.

The loss mask is computed from the model's own chat template, by rendering the conversation
and its prefixes with `apply_chat_template` and diffing the strings: the text an assistant
turn adds after the generation prompt (`<|im_start|>assistant\\n` in ChatML) is its content
plus the template's end-of-turn marker. Those characters are mapped to tokens through the
fast tokenizer's offsets. This works for any template that renders a conversation's prefixes
as string prefixes of the whole (ChatML, Llama 3, Mistral, Gemma, ...), without relying on
`{% generation %}` markers, which most templates (SmolLM2's included) lack.

Which turns are trained is a pluggable `MaskRule`; the default trains every assistant turn
whose OpenAI-style `weight` is not 0. A rule may also train only the end of a turn
(`ContentFrom`): the split-personality rule trains what follows a marker line inside the
final assistant turn (confession training, PROTOCOLS §4).

With a persona marker (`TrainConfig.persona_marker`) each example also records where the
persona starts: the tokens up to and including the marker's first occurrence run without
the adapter (`training.persona`), so none of them may be a loss target.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honesty_evals.common.records import file_sha256 as file_sha256  # callers import it here
from honesty_evals.common.records import iter_data_records
from honesty_evals.errors import UserInputError
from honesty_evals.model.persona import marker_split

Message = dict[str, Any]


@dataclass(frozen=True)
class ContentFrom:
    """A mask rule's answer "train this turn only from character `start` of its content"."""

    start: int


#: decides whether message `index` of `messages` is trained on: True -> the whole turn
#: (content + end-of-turn token), False -> none of it, ContentFrom(n) -> from character n of
#: its content to the end of the turn
MaskRule = Callable[[Sequence[Message], int], "bool | ContentFrom"]


class MaskRuleError(ValueError):
    """A conversation that a mask rule cannot apply to (reported with its line number)."""


ROLES = ("system", "user", "assistant")


def assistant_turns(messages: Sequence[Message], index: int) -> bool:
    """Default rule: every assistant turn, except those marked `"weight": 0` (OpenAI format)."""
    message = messages[index]
    return message["role"] == "assistant" and message.get("weight", 1) != 0


def last_assistant_turn(messages: Sequence[Message], index: int) -> bool:
    """Only the final assistant turn (earlier ones are context, e.g. for confession training)."""
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return index == last


# The split-personality marker (Dietz et al.; PROTOCOLS §4). A plain string, not an added
# tokenizer token: LoRA does not train embeddings, so a new token would keep a random
# embedding. It tokenises the same way wherever it stands after whitespace (tested on
# SmolLM2's tokenizer).
SPLIT_PERSONA_MARKER = "<|split-personality|>"


def split_persona_review(messages: Sequence[Message], index: int) -> bool | ContentFrom:
    """The final assistant turn, only after the line holding `SPLIT_PERSONA_MARKER`.

    The turn is the model's normal response, then the marker and the intervention sentence
    on one line, then the review: loss covers the review (and the end-of-turn token), never
    the response, the marker or the intervention.
    """
    if not last_assistant_turn(messages, index):
        return False
    content = messages[index]["content"]
    marker = content.find(SPLIT_PERSONA_MARKER)
    if marker < 0:
        raise MaskRuleError(
            f"the last assistant turn has no {SPLIT_PERSONA_MARKER} marker (mask rule "
            "split-persona)"
        )
    line_end = content.find("\n", marker)
    if line_end < 0 or line_end + 1 >= len(content):
        raise MaskRuleError(
            "nothing follows the split-personality marker's line, so there is no review to "
            "train on (mask rule split-persona)"
        )
    return ContentFrom(line_end + 1)


MASK_RULES: dict[str, MaskRule] = {
    "assistant": assistant_turns,
    "last-assistant": last_assistant_turn,
    "split-persona": split_persona_review,
}


@dataclass(frozen=True)
class Conversation:
    line: int  # the JSONL line (from 1) or table row (from 0) it came from
    messages: list[Message]
    where: str = ""  # "PATH:LINE" or "PATH row N", for error messages ("" for generated ones)


@dataclass(frozen=True)
class EncodedExample:
    line: int
    input_ids: list[int]
    # loss_mask[t] is True when token t is a training target (predicted from tokens < t)
    loss_mask: list[bool]
    truncated: bool = False
    # with a persona marker: how many leading tokens (through the marker) run without it
    persona_start: int | None = None

    @property
    def n_loss_tokens(self) -> int:
        # position 0 has no preceding context, so it can never be a target
        return sum(self.loss_mask[1:])


def _content_text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    # OpenAI content parts: [{"type": "text", "text": "..."}]
    if isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        for p in content
    ):
        return "".join(p["text"] for p in content)
    raise UserInputError(f"{where}: message content must be a string or a list of text parts")


def parse_chat_data(path: str | Path) -> list[Conversation]:
    """Read OpenAI chat records (`{"messages": [{"role", "content"}, ...]}`) from a JSONL
    file, a Parquet file with a `messages` column, or a `save_to_disk` folder.

    Every problem is reported as one line naming the file and the line (or row).
    """
    conversations: list[Conversation] = []
    for record in iter_data_records(path, "training data", columns=("messages",)):
        where = record.where
        if not isinstance(record.value, dict) or not isinstance(record.value.get("messages"), list):
            raise UserInputError(f'{where}: expected an object with a "messages" list')
        messages: list[Message] = []
        for i, m in enumerate(record.value["messages"]):
            if not isinstance(m, dict) or m.get("role") not in ROLES:
                raise UserInputError(
                    f"{where}: message {i} needs a role of {', '.join(ROLES)} "
                    f"(got {m.get('role') if isinstance(m, dict) else m!r})"
                )
            if m.get("content") is None:  # a table's missing field reads as None
                raise UserInputError(f"{where}: message {i} has no content")
            clean: Message = {"role": m["role"], "content": _content_text(m["content"], where)}
            if m.get("weight") is not None:
                if m["weight"] not in (0, 1):
                    raise UserInputError(f"{where}: message {i} weight must be 0 or 1")
                clean["weight"] = m["weight"]
            messages.append(clean)
        if not any(m["role"] == "assistant" for m in messages):
            raise UserInputError(
                f"{where}: the conversation has no assistant turn, so there is nothing to train on"
            )
        conversations.append(Conversation(record.number, messages, where))
    return conversations


# the name from before Parquet and folders were accepted
parse_chat_jsonl = parse_chat_data


def _render(tokenizer: Any, messages: Sequence[Message], generation_prompt: bool) -> str:
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    return tokenizer.apply_chat_template(
        plain, tokenize=False, add_generation_prompt=generation_prompt
    )


def trained_char_spans(
    tokenizer: Any, messages: Sequence[Message], mask_rule: MaskRule, where: str = ""
) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans that get loss.

    A trained assistant turn's span runs from the end of the generation prompt rendered
    for the conversation before it to the end of the conversation rendered through it.
    """
    full = _render(tokenizer, messages, generation_prompt=False)
    spans: list[tuple[int, int]] = []
    for i, message in enumerate(messages):
        try:
            selected = mask_rule(messages, i)
        except MaskRuleError as exc:
            raise UserInputError(f"{where}: {exc}") from None
        if not selected:
            continue
        if message["role"] != "assistant":
            raise ValueError(f"mask rule selected a {message['role']} turn; only assistant turns")
        if i == 0:
            raise UserInputError(f"{where}: a conversation cannot open with an assistant turn")
        prompt = _render(tokenizer, messages[:i], generation_prompt=True)
        through = _render(tokenizer, messages[: i + 1], generation_prompt=False)
        if not (
            full.startswith(prompt) and full.startswith(through) and len(through) > len(prompt)
        ):
            raise UserInputError(
                f"{where}: the model's chat template does not render this conversation's "
                "prefixes as prefixes of the whole, so assistant tokens cannot be located"
            )
        start = len(prompt)
        if isinstance(selected, ContentFrom):
            content = message["content"]
            # the template must render the content verbatim right after the prompt, else
            # the character offset would point elsewhere
            if full[start : start + len(content)] != content:
                raise UserInputError(
                    f"{where}: the model's chat template changes this assistant turn's text, "
                    "so a span inside it cannot be located"
                )
            start += selected.start
        spans.append((start, len(through)))
    return full, spans


def encode_conversation(
    tokenizer: Any,
    conversation: Conversation,
    mask_rule: MaskRule = assistant_turns,
    max_length: int | None = None,
    end_token_ids: Sequence[int] = (),
    where: str = "",
    persona_marker: str | None = None,
) -> EncodedExample:
    """Token ids and loss mask for one conversation.

    Within each trained span, tokens after the last end-of-turn token (`end_token_ids`,
    normally the eos token) are template glue such as the newline after `<|im_end|>`:
    they are not trained, so the model learns to stop at the end token.

    `persona_marker`: also find where the persona starts (`EncodedExample.persona_start`);
    a conversation without the marker, or with loss on a token the persona cannot
    produce (one predicted from before the marker's end), is refused with `where`.
    """
    text, spans = trained_char_spans(tokenizer, conversation.messages, mask_rule, where)
    persona_start = None
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        offsets = enc["offset_mapping"]
        mask = [False] * len(ids)
        for start, end in spans:
            members = [t for t, (a, b) in enumerate(offsets) if b > start and a < end]
            _mark(members, ids, mask, end_token_ids)
        if persona_marker is not None:
            persona_start = _persona_start(text, offsets, mask, persona_marker, where)
    elif persona_marker is not None:
        raise UserInputError(
            f"--persona-marker needs a fast tokenizer (token offsets find the marker); {where}"
            " was read with a slow one"
        )
    else:  # slow tokenizers have no offsets: tokenise the pieces between span edges
        ids, mask = [], []
        cuts = sorted({0, len(text), *(x for span in spans for x in span)})
        for a, b in zip(cuts, cuts[1:]):
            piece = tokenizer(text[a:b], add_special_tokens=False)["input_ids"]
            trained = any(s <= a and b <= e for s, e in spans)
            members = list(range(len(ids), len(ids) + len(piece)))
            ids.extend(piece)
            mask.extend([False] * len(piece))
            if trained:
                _mark(members, ids, mask, end_token_ids)
    truncated = max_length is not None and len(ids) > max_length
    if truncated:
        ids, mask = ids[:max_length], mask[:max_length]
    return EncodedExample(
        line=conversation.line,
        input_ids=ids,
        loss_mask=mask,
        truncated=truncated,
        persona_start=persona_start,
    )


def _persona_start(
    text: str, offsets: Sequence[tuple[int, int]], mask: list[bool], marker: str, where: str
) -> int:
    """The tokens through the persona marker (`model.persona.marker_split`), checked: the
    marker is there, and no loss target is predicted from before its end (target t is
    predicted from token t - 1, which runs without the persona when t <= the split)."""
    split = marker_split(text, offsets, marker)
    if split is None:
        raise UserInputError(
            f"{where}: no persona marker {marker!r} in the conversation: the persona trains "
            "only on what follows it, so every conversation needs one (--persona-marker)"
        )
    early = sum(mask[1 : split + 1])
    if early:
        raise UserInputError(
            f"{where}: the loss covers {early} token(s) up to the end of the persona marker "
            f"{marker!r}, where the persona is off: train only what follows it (e.g. "
            "--mask-rule split-persona)"
        )
    return split


def _mark(members: list[int], ids: list[int], mask: list[bool], end_ids: Sequence[int]) -> None:
    ends = [t for t in members if ids[t] in end_ids]
    last = ends[-1] if ends else None
    for t in members:
        if last is None or t <= last:
            mask[t] = True
