"""The probability of each first answer unit, enumerated from next-token log-probabilities.

PROTOCOLS §0: with log-probabilities, one forward pass gives the distribution over answer
tokens exactly. A one-word or 0-100 answer is often several tokens, though (SmolLM2 writes
"75" as "7", "5" and "Cautious" as "C", "aut", "ious"), so one forward pass is not enough. We
walk the tree of continuations instead: ask for the next-token distribution after the
question, extend every prefix that still carries enough probability by each listed token,
and ask again after each extended prefix (the prefix is sent as the start of the assistant's
turn, which the provider continues), until the prefix holds a complete first *unit*: a word
(or listed compound such as "risk averse") followed by something that is not a letter, a
number followed by something that is not a digit, or the end of the turn.

Each complete unit is scored with the same parser as a sampled answer (`lexicon.py`), so
the two paths agree on what a unit means; the logprob path reads only the first unit
("I would say bold" counts as "I", out of the lexicon), the sampling path reads the whole
answer. Where the mass goes is reported, never dropped:
- `answer_mass`: units that give a score; the expectation is renormalised over these;
- `other_mass`: complete units that give none (out of the lexicon, out of range, ...), by unit;
- `unresolved_mass`: prefixes not followed up (below `min_mass`, past the call budget or the
  depth limit) plus the probability of tokens outside the returned top alternatives.

Two prunings keep this cheap and exact for what it reports: a word prefix that no lexicon
form (or number word) starts with is complete at once (its word is shown with "…"), and a
number above 100 is out of range at once whatever digits follow.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from honesty_evals.risk_self_report.lexicon import (
    NUMBER_WORDS,
    ParsedAnswer,
    is_lexicon_prefix,
    parse_scale_answer,
    parse_word_answer,
)

NextTokens = Callable[[str], Awaitable["list[tuple[str, float]] | None"]]

# a decoded special token that ends the turn: <|im_end|>, <|endoftext|>, </s>, <|eot_id|> ...
END_TOKEN_RE = re.compile(r"^\s*(?:<\|[A-Za-z_]+\|>|</s>|<\|?(?:eos|eot)[A-Za-z_]*\|?>)\s*$")
_LEADING_JUNK = " \t\n\r\"'`*#>_([{\u201c\u2018"
_WORD_CHARS = re.compile(r"[A-Za-z'\u2019]+")
_SEPARATORS = " -\u2010\u2011\u2013"
_SEPARATOR_CLASS = r"[ \-\u2010\u2011\u2013]"


@dataclass(frozen=True)
class Unit:
    """A prefix classified: still incomplete, or complete with its parsed answer."""

    complete: bool
    answer: ParsedAnswer | None = None


INCOMPLETE = Unit(False)


def _strip(text: str, extra: str = "") -> str:
    return text.lstrip(_LEADING_JUNK + extra)


def _number_word_prefix(text: str) -> bool:
    norm = re.sub(r"[\s\-]+", " ", text.lower())
    candidates = list(NUMBER_WORDS) + ["one hundred", "a hundred"]
    tens = [w for w, v in NUMBER_WORDS.items() if v >= 20 and v % 10 == 0 and v < 100]
    candidates += [f"{t} {o}" for t in tens for o in list(NUMBER_WORDS)[1:10]]
    return any(c.startswith(norm) for c in candidates)


def classify_word_prefix(text: str, ended: bool) -> Unit:
    """Whether `text` (the answer so far) holds a complete first word, and what it says."""
    s = _strip(text, "-\u2022")
    if not s:
        return Unit(True, ParsedAnswer("empty", None, "")) if ended else INCOMPLETE
    if not s[0].isalpha():
        return Unit(True, ParsedAnswer("out_of_lexicon", None, s[:12]))
    # the longest run of words joined by single separators: compounds ("risk averse")
    match = re.match(r"[A-Za-z'\u2019]+(?:" + _SEPARATOR_CLASS + r"[A-Za-z'\u2019]+)*", s)
    assert match is not None
    unit, rest = match.group(0), s[match.end() :]
    if not ended and (rest == "" or (len(rest) == 1 and rest in _SEPARATORS)):
        # the unit may still grow: worth following only if a lexicon form can start so
        if is_lexicon_prefix(unit + rest):
            return INCOMPLETE
        if rest == "" and len(unit.split()) == 1 and "-" not in unit:
            return Unit(True, ParsedAnswer("out_of_lexicon", None, unit + "\u2026"))
    # complete: the longest prefix of the unit's words that is a lexicon form decides,
    # else the first word alone
    words = re.split(_SEPARATOR_CLASS, unit)
    for n in range(len(words), 0, -1):
        candidate = " ".join(words[:n])
        parsed = parse_word_answer(candidate)
        if parsed.parsed and (n == 1 or is_lexicon_prefix(candidate)):
            return Unit(True, parsed)
    return Unit(True, parse_word_answer(words[0]))


def classify_scale_prefix(text: str, ended: bool) -> Unit:
    """Whether `text` holds a complete first number (digits or words), and what it says."""
    s = _strip(text)
    if not s:
        return Unit(True, ParsedAnswer("empty", None, "")) if ended else INCOMPLETE
    digits = re.match(r"-?\d+(?:\.\d*)?", s)
    if s == "-" and not ended:
        return INCOMPLETE
    if digits:
        number, rest = digits.group(0), s[digits.end() :]
        # "1. I think..." / "1) ..." opens a list: the answer starts after the marker
        marker = re.match(r"1(?:\.|\))\s+", s)
        if marker and not ended and s[marker.end() :] == "":
            return INCOMPLETE
        if marker and s[marker.end() :][:1].isalpha():
            return classify_scale_prefix(s[marker.end() :], ended)
        integer = number.lstrip("-").split(".")[0]
        if number.startswith("-") or int(integer) > 100 or len(integer) > 3:
            return Unit(True, ParsedAnswer("out_of_range", None, number))
        if not ended:
            if rest == "":  # "7" may become "75", "7." may become "7.5"
                return INCOMPLETE
            if re.fullmatch(r"\s*(?:/|out|out of|of)\s*\d*", rest):  # "7/10" vs "70/100"
                return INCOMPLETE
        return Unit(True, parse_scale_answer(s))
    if s[0].isalpha():
        return _classify_number_words(s, ended)
    return Unit(True, ParsedAnswer("no_number", None, s[:12]))


def _classify_number_words(s: str, ended: bool) -> Unit:
    """`classify_scale_prefix` for a stripped text that opens with a letter ("seventy...")."""
    words = re.match(r"[A-Za-z]+(?:[\s\-][A-Za-z]+)*", s)
    assert words is not None
    unit, rest = words.group(0), s[words.end() :]
    if not ended and rest in ("", " ", "-") and _number_word_prefix(unit + rest):
        return INCOMPLETE
    first = unit.split()[0].split("-")[0]
    if not ended and rest == "" and not _number_word_prefix(first):
        return Unit(True, ParsedAnswer("no_number", None, first + "\u2026"))
    parsed = parse_scale_answer(unit)
    if not parsed.parsed and parsed.outcome == "no_number":
        parsed = ParsedAnswer("no_number", None, first)
    return Unit(True, parsed)


CLASSIFIERS: dict[str, Callable[[str, bool], Unit]] = {
    "word": classify_word_prefix,
    "scale": classify_scale_prefix,
}


@dataclass
class Enumeration:
    """The enumerated distribution of first answer units for one question."""

    expectation: float | None  # mean risk score over answer_mass (None when it is 0)
    answer_mass: float
    other_mass: float
    unresolved_mass: float
    calls: int
    # unit -> [outcome, value or None, probability], most probable first
    units: list[tuple[str, str, float | None, float]] = field(default_factory=list)

    def other_by_outcome(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for _, outcome, _, mass in self.units:
            if outcome != "answer":
                out[outcome] = out.get(outcome, 0.0) + mass
        return out


async def enumerate_first_unit(
    next_tokens: NextTokens,
    answer_format: str,
    min_mass: float = 0.002,
    max_calls: int = 64,
    max_depth: int = 8,
) -> Enumeration | None:
    """Walk the continuation tree of an answer's first unit (see the module doc).

    Args:
        next_tokens: Async callable: given the answer so far, the next token's top
            alternatives as (token text, log-probability), or None if the provider returns
            no log-probabilities (then this returns None).
        answer_format: "word" or "scale".
        min_mass: Prefixes with less probability than this are not followed up.
        max_calls: Most next-token requests for the question (the first included).
        max_depth: Most tokens in a followed prefix.
    """
    classify = CLASSIFIERS[answer_format]
    first = await next_tokens("")
    if first is None:
        return None
    calls = 1
    units: dict[str, list] = {}  # unit text -> [outcome, value, mass]
    unresolved = 0.0

    def add(text: str, mass: float, ended: bool, frontier: dict[str, float]) -> None:
        unit = classify(text, ended)
        if unit.complete:
            answer = unit.answer
            assert answer is not None
            entry = units.setdefault(answer.word, [answer.outcome, answer.value, 0.0])
            entry[2] += mass
        else:
            frontier[text] = frontier.get(text, 0.0) + mass

    def expand(
        prefix: str,
        prefix_mass: float,
        alternatives: list[tuple[str, float]],
        frontier: dict[str, float],
    ) -> float:
        """Add each alternative's extension; return the mass not listed."""
        listed = 0.0
        seen: set[str] = set()
        for token, logprob in alternatives:
            if token in seen:  # some providers repeat the chosen token
                continue
            seen.add(token)
            p = math.exp(logprob)
            listed += p
            ended = bool(END_TOKEN_RE.match(token))
            add(prefix if ended else prefix + token, prefix_mass * p, ended, frontier)
        return prefix_mass * max(0.0, 1.0 - listed)

    frontier: dict[str, float] = {}
    unresolved += expand("", 1.0, first, frontier)
    depth = 1
    while frontier:
        ranked = sorted(frontier.items(), key=lambda kv: -kv[1])
        budget = max_calls - calls
        follow = [(p, m) for p, m in ranked if m >= min_mass and depth < max_depth][
            : max(budget, 0)
        ]
        followed = {p for p, _ in follow}
        unresolved += sum(m for p, m in ranked if p not in followed)
        if not follow:
            break
        results = await asyncio.gather(*(next_tokens(p) for p, _ in follow))
        calls += len(follow)
        frontier = {}
        for (prefix, mass), alternatives in zip(follow, results):
            if alternatives is None:
                unresolved += mass
                continue
            unresolved += expand(prefix, mass, alternatives, frontier)
        depth += 1

    ranked_units = sorted(((u, e[0], e[1], e[2]) for u, e in units.items()), key=lambda x: -x[3])
    answer_mass = sum(m for _, o, _, m in ranked_units if o == "answer")
    other_mass = sum(m for _, o, _, m in ranked_units if o != "answer")
    expectation = (
        sum(m * v for _, o, v, m in ranked_units if o == "answer") / answer_mass
        if answer_mass > 0
        else None
    )
    return Enumeration(
        expectation=expectation,
        answer_mass=answer_mass,
        other_mass=other_mass,
        unresolved_mass=max(0.0, unresolved),
        calls=calls,
        units=ranked_units,
    )
