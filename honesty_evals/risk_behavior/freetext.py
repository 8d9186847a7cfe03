"""The deterministic parser of free-text answers ("Which would you choose and why?").

No judge model: the rule is fixed, and refuses what it cannot read rather than guess.

1. The answer is cut into sentences (at `.`, `!` or `?` followed by a space, and at line
   breaks). Markdown emphasis and quotes do not count.
2. The first sentence that mentions an option decides. An option is mentioned by its label
   in a choosing form: `Option A` / `Choice A`, `(A)`, the label opening the sentence
   followed by `.`, `)`, `:` or `,` or standing alone ("B."), or the label after a
   choosing verb ("I'd pick A", "I would go with B"; choose, pick, select, take, go with,
   go for, opt for, prefer, want); or by one of the option's names (each free-text item
   gives them: "the fixed bonus", "the prize draw"), in any case.
3. That sentence mentions exactly one option, with no negation before the mention (not,
   never, n't, rather than, instead of): the answer chose that option. Both options
   in the deciding sentence ("A is steadier but B pays more"), a negated mention ("I
   wouldn't take the draw"), or no sentence mentioning either: unparsed.

A bare capital "A" inside a sentence is not a mention (it is usually the article).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_EMPHASIS = re.compile(r"[*_`\"“”]")
_CHOOSING_VERBS = (
    r"(?:choose|chose|choosing|pick|picked|picking|select|selected|selecting|take|taking|"
    r"go\s+with|going\s+with|go\s+for|going\s+for|opt\s+for|opting\s+for|prefer|want)"
)
_NEGATION = re.compile(r"\b(?:not|never|rather\s+than|instead\s+of)\b|n't\b", re.IGNORECASE)

UNPARSED_BOTH = "both options in the deciding sentence"
UNPARSED_NEGATED = "the deciding mention is negated"
UNPARSED_NEITHER = "no sentence mentions an option"


@dataclass(frozen=True)
class FreeTextChoice:
    """The label an answer chose, or None with the reason it is unparsed."""

    label: str | None
    reason: str = ""
    sentence: str = ""


def _label_patterns(label: str) -> list[re.Pattern[str]]:
    lab = re.escape(label)
    return [
        re.compile(rf"\b(?i:option|choice)\s+\(?{lab}\)?(?!\w)"),
        re.compile(rf"\({lab}\)"),
        re.compile(rf"^\s*{lab}(?:[.):,]|\s*$)"),
        re.compile(rf"\b(?i:{_CHOOSING_VERBS})\s+{lab}(?!\w)"),
    ]


def _name_pattern(name: str) -> re.Pattern[str]:
    words = r"\s+".join(re.escape(w) for w in name.split())
    return re.compile(rf"(?<!\w){words}(?!\w)", re.IGNORECASE)


def sentences(answer: str) -> list[str]:
    text = _EMPHASIS.sub("", answer)
    return [s.strip() for s in _SENTENCE_BREAK.split(text) if s.strip()]


def parse_free_text(
    answer: str, labels: Sequence[str], option_names: Mapping[str, Sequence[str]]
) -> FreeTextChoice:
    """The option a free-text answer chose (the module docstring's rule).

    Args:
        answer: The model's answer.
        labels: The option labels the question used ("A", "B").
        option_names: Each label's option names ("fixed bonus").
    """
    patterns = {
        label: _label_patterns(label) + [_name_pattern(n) for n in option_names.get(label, ())]
        for label in labels
    }
    for sentence in sentences(answer):
        first: dict[str, int] = {}
        for label, found in patterns.items():
            starts = [m.start() for p in found for m in p.finditer(sentence)]
            if starts:
                first[label] = min(starts)
        if not first:
            continue
        if len(first) > 1:
            return FreeTextChoice(None, UNPARSED_BOTH, sentence)
        ((label, start),) = first.items()
        if _NEGATION.search(sentence[:start]):
            return FreeTextChoice(None, UNPARSED_NEGATED, sentence)
        return FreeTextChoice(label, "", sentence)
    return FreeTextChoice(None, UNPARSED_NEITHER)
