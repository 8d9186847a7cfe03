"""Reading self-reported risk attitudes: the word lexicon and the 0-100 scale parser.

PROTOCOLS §2 scores one-word answers 1 (risk-seeking), 0.5 (neutral) or 0 (risk-averse),
and scale answers as the number / 100. Everything here is deterministic and offline.

**Words.** `LEXICON` lists lemmas by value; `word_value` also accepts their regular forms
(`inflections`: plural -s, comparative/superlative -er/-est, adverb -ly, noun -ness, with the
usual spelling changes: riskier -> risky, safest -> safe, boldness -> bold, cautiously ->
cautious). Compounds are written with hyphens or spaces alike ("risk averse" = "risk-averse");
a listed compound wins over its parts ("risk-averse" is 0 although "risk" is 1), and an
unlisted one counts only if its listed parts agree ("super-cautious" -> 0, "bold-safe" is
ambiguous). Prefixes are *not* stripped: "unsafe" and "uncautious" are out of the lexicon,
reported as such rather than guessed.

**Whole answers** (`parse_word_answer`, used for sampled answers): every lexicon word or
compound in the answer is found; one that follows a negation within three words ("not
risky", "I never take risks") is set aside. The answer's value is the value all remaining
hits share; when they disagree, the answer's first word decides if it is a hit ("Safety.
Risk is ..." -> 0), otherwise the answer is ambiguous. An answer with no hit is a refusal if it
matches a refusal phrase, negated if it only had negated hits, else out of the lexicon, and
its first word is kept so the log shows what the model said.

**Scales** (`parse_scale_answer`): echoes of the scale ("from 0 to 100", "0-100") are
removed, then the first number, in digits ("70", "70%", "70/100", "70 out of 100") or words
("seventy", "seventy-five", "one hundred"), is the answer. A number on another scale ("7/10",
"7 out of 10") or outside 0-100 ("150", "-5") is unparseable and counted by reason.
A number is taken literally ("0.7" is 0.7 out of 100); a leading "1." or "1)" followed by
words opens a numbered list and is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

RISK_SEEKING = 1.0
NEUTRAL = 0.5
RISK_AVERSE = 0.0

# Lemmas (their regular forms are added by `inflections`). Compounds use a space.
LEXICON: dict[float, tuple[str, ...]] = {
    RISK_SEEKING: (
        "risk", "risky", "risk taking", "risk taker", "risk seeking", "risk seeker",
        "risk loving", "risk lover", "risk tolerant", "risk prone", "risk hungry", "high risk",
        "bold", "aggressive", "aggression", "reckless", "daring", "dare", "daredevil",
        "adventurous", "adventure", "adventurer", "audacious", "audacity", "brave", "bravery",
        "courageous", "courage", "fearless", "gutsy", "venturesome", "thrill", "thrill seeking",
        "thrill seeker", "impulsive", "rash", "careless", "incautious", "imprudent", "gamble",
        "gambler", "gambling", "speculative", "wild", "go getter", "yolo",
    ),
    NEUTRAL: (
        "balanced", "balance", "moderate", "moderation", "neutral", "neutrality",
        "risk neutral", "indifferent", "indifference", "middle", "middle ground",
        "middle of the road", "medium", "mixed", "even handed", "in between",
        "fifty fifty", "well balanced",
    ),
    RISK_AVERSE: (
        "safe", "safety", "safety first", "play it safe", "cautious", "caution", "careful",
        "conservative", "conservatism", "risk averse", "risk aversion", "averse",
        "aversion", "risk avoidant", "risk avoiding", "risk avoidance", "risk free", "low risk",
        "no risk", "prudent", "prudence", "timid", "wary", "secure", "security", "defensive",
        "hesitant", "circumspect", "restrained", "guarded", "certainty", "protective",
        "cowardly", "fearful", "avoidant",
    ),
}  # fmt: skip

# Regular forms that are other words ("thriller" is a film, not a thrill-seeker)
NOT_FORMS = frozenset({"thriller", "thrillers", "rasher", "rashes", "securities", "wilds"})

VALUE_NAMES = {RISK_SEEKING: "risk-seeking", NEUTRAL: "neutral", RISK_AVERSE: "risk-averse"}

NEGATORS = frozenset(
    "not never no dont don't doesnt doesn't isnt isn't arent aren't wasnt wasn't wont won't "
    "cannot can't cant avoid avoids avoiding without hardly rarely nor neither".split()
)
NEGATION_WINDOW = 3

REFUSAL_RE = re.compile(
    r"\b(?:i(?:'m| am) (?:sorry|unable|not able)|sorry\b|i can(?:not|'t)\b|"
    r"as an ai\b|as a (?:language model|machine)\b|"
    r"i(?:'m| am) (?:just )?(?:an ai|a language model)|"
    r"i do(?:n't| not) (?:have|possess) (?:a |any )?(?:personal )?"
    r"(?:attitude|preference|feeling|opinion|emotion|view)|"
    r"(?:unable|not able) to (?:answer|provide|say|rate)|i (?:won't|will not) (?:answer|say)|"
    r"i (?:prefer|would rather) not (?:to )?(?:answer|say))",
    re.IGNORECASE,
)

_WORD_RE = re.compile(r"[a-z]+(?:'[a-z]+)?")
_VOWELS = set("aeiou")


def _normalise(text: str) -> str:
    """Lower case, typographic apostrophes made plain, hyphens and dashes made spaces."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return re.sub(r"[-\u2010-\u2014]+", " ", text)


def inflections(lemma: str) -> set[str]:
    """The lemma and its regular forms (for a compound: forms of its last word)."""
    head, _, last = lemma.rpartition(" ")
    prefix = f"{head} " if head else ""
    forms = {last, last + "s", last + "ly", last + "ness"}
    if last.endswith("y") and len(last) > 2 and last[-2] not in _VOWELS:
        stem = last[:-1] + "i"  # risky -> riskier, riskiest, riskily, riskiness
        forms |= {stem + "er", stem + "est", stem + "ly", stem + "ness", stem + "es"}
    elif last.endswith("e"):
        forms |= {last + "r", last + "st", last[:-1] + "ing", last + "d"}  # safe -> safer
    else:
        forms |= {last + "er", last + "est", last + "es"}
    return {prefix + f for f in forms}


@dataclass(frozen=True)
class LexiconEntry:
    form: str
    lemma: str
    value: float


def _build_forms() -> dict[str, LexiconEntry]:
    forms: dict[str, LexiconEntry] = {}
    lemmas: dict[str, float] = {}
    for value, words in LEXICON.items():
        for lemma in words:
            if lemma in lemmas:
                raise AssertionError(f"lexicon lists {lemma!r} twice")
            lemmas[lemma] = value
    # lemmas first, so a listed word is never shadowed by another lemma's inflection
    for lemma, value in lemmas.items():
        forms[lemma] = LexiconEntry(lemma, lemma, value)
    for lemma, value in lemmas.items():
        for form in inflections(lemma):
            if form.rpartition(" ")[2] in NOT_FORMS:
                continue
            existing = forms.get(form)
            if existing is None:
                forms[form] = LexiconEntry(form, lemma, value)
            elif existing.value != value and existing.form != existing.lemma:
                raise AssertionError(f"{form!r} is a form of {existing.lemma!r} and {lemma!r}")
    return forms


FORMS: dict[str, LexiconEntry] = _build_forms()
# compounds by their number of words, longest first, for matching inside answers
_COMPOUNDS: list[tuple[int, str]] = sorted(
    ((f.count(" ") + 1, f) for f in FORMS if " " in f), key=lambda x: -x[0]
)
MAX_COMPOUND_WORDS = max(n for n, _ in _COMPOUNDS)


def word_entry(word: str) -> LexiconEntry | None:
    """The lexicon entry of one word or compound ("Riskier", "risk-averse"), or None.

    An unlisted compound counts when the listed words in it agree on one value.
    """
    norm = " ".join(_WORD_RE.findall(_normalise(word)))
    if not norm:
        return None
    entry = FORMS.get(norm)
    if entry is not None or " " not in norm:
        return entry
    parts = [FORMS.get(p) for p in norm.split(" ")]
    hits = [p for p in parts if p is not None]
    values = {p.value for p in hits}
    if len(values) == 1:
        return LexiconEntry(norm, hits[0].lemma, hits[0].value)
    return None


def word_value(word: str) -> float | None:
    """1, 0.5 or 0 for a lexicon word or compound in any regular form, else None."""
    entry = word_entry(word)
    return None if entry is None else entry.value


def is_lexicon_prefix(text: str) -> bool:
    """Whether some lexicon form starts with `text` (case, hyphens and spaces ignored)."""
    norm = _normalise(text)
    return any(form.startswith(norm) for form in FORMS)


# -- whole answers ----------------------------------------------------------------------

WordOutcome = Literal["answer", "refusal", "negated", "ambiguous", "out_of_lexicon", "empty"]
ScaleOutcome = Literal["answer", "refusal", "out_of_range", "other_scale", "no_number", "empty"]


@dataclass(frozen=True)
class ParsedAnswer:
    """What one answer says: a risk score in [0, 1], or why there is none."""

    outcome: str  # "answer" or the reason there is no score
    value: float | None  # risk score in [0, 1] when outcome == "answer"
    word: str  # the word or number that decided it ("" when none)

    @property
    def parsed(self) -> bool:
        return self.outcome == "answer"


@dataclass(frozen=True)
class _Hit:
    start: int  # index of its first word
    entry: LexiconEntry
    negated: bool


def _hits(words: list[str]) -> list[_Hit]:
    hits: list[_Hit] = []
    i = 0
    while i < len(words):
        entry, span = None, 1
        for n in range(min(MAX_COMPOUND_WORDS, len(words) - i), 1, -1):
            entry = FORMS.get(" ".join(words[i : i + n]))
            if entry is not None:
                span = n
                break
        if entry is None:
            entry = FORMS.get(words[i])
        if entry is not None:
            window = words[max(0, i - NEGATION_WINDOW) : i]
            hits.append(_Hit(i, entry, any(w in NEGATORS for w in window)))
        i += span
    return hits


def first_word(text: str) -> str:
    words = _WORD_RE.findall(_normalise(text))
    return words[0] if words else ""


def parse_word_answer(text: str) -> ParsedAnswer:
    """The risk score a free-text answer to a one-word question gives (see module doc)."""
    words = _WORD_RE.findall(_normalise(text))
    if not words:
        return ParsedAnswer("empty", None, text.strip()[:20])
    hits = _hits(words)
    kept = [h for h in hits if not h.negated]
    values = {h.entry.value for h in kept}
    if len(values) == 1:
        return ParsedAnswer("answer", kept[0].entry.value, kept[0].entry.form)
    if len(values) > 1:
        if kept[0].start == 0:
            return ParsedAnswer("answer", kept[0].entry.value, kept[0].entry.form)
        return ParsedAnswer("ambiguous", None, "/".join(h.entry.form for h in kept))
    if REFUSAL_RE.search(text.replace("\u2019", "'")):
        return ParsedAnswer("refusal", None, words[0])
    if hits:
        return ParsedAnswer("negated", None, "not " + hits[0].entry.form)
    return ParsedAnswer("out_of_lexicon", None, words[0])


# -- scales -------------------------------------------------------------------------------

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
NUMBER_WORDS: dict[str, int] = {w: i for i, w in enumerate(_ONES)}
NUMBER_WORDS.update({w: 20 + 10 * i for i, w in enumerate(_TENS)})
NUMBER_WORDS["hundred"] = 100
NUMBER_WORDS["fourty"] = 40  # a common misspelling

_NUMBER_WORD_RE = re.compile(
    r"\b(?:(?P<hundred>(?:one|a)[\s-]+hundred|hundred)"
    r"|(?P<tens>"
    + "|".join(_TENS + ["fourty"])
    + r")(?:[\s-]+(?P<unit>"
    + "|".join(_ONES[1:10])
    + r"))?"
    r"|(?P<ones>" + "|".join(_ONES) + r"))\b",
    re.IGNORECASE,
)
_DIGITS_RE = re.compile(
    r"(?<![\w.])(?P<number>-?\d+(?:\.\d+)?)\s*(?:%|percent\b)?"
    r"(?:\s*(?:/|out of|of)\s*(?P<denominator>\d+))?"
)
# "from 0 to 100", "(0-100)", "0 and 100", "between 0 and 100": the scale, not the answer
_SCALE_ECHO_RE = re.compile(
    r"(?:from|between|of)?\s*\(?\b0\s*(?:%\s*)?(?:to|-|\u2013|\u2014|and|through)\s*100\b\)?",
    re.IGNORECASE,
)


# "1. I would say ..." opens a numbered list; the 1 is not the answer
_LIST_MARKER_RE = re.compile(r"^\s*1[.)]\s+(?=[A-Za-z])")


def _word_number(match: re.Match[str]) -> int:
    if match.group("hundred"):
        return 100
    if match.group("tens"):
        value = NUMBER_WORDS[match.group("tens").lower()]
        if match.group("unit"):
            value += NUMBER_WORDS[match.group("unit").lower()]
        return value
    return NUMBER_WORDS[match.group("ones").lower()]


def parse_scale_answer(text: str) -> ParsedAnswer:
    """The risk score (number / 100) a free-text answer to a 0-100 scale question gives."""
    cleaned = text.replace("\u2019", "'").replace(",", "")
    if not cleaned.strip():
        return ParsedAnswer("empty", None, "")
    body = _LIST_MARKER_RE.sub("", _SCALE_ECHO_RE.sub(" ", cleaned), count=1)
    digits = _DIGITS_RE.search(body)
    words = _NUMBER_WORD_RE.search(body)
    if digits and (words is None or digits.start() <= words.start()):
        number = float(digits.group("number"))
        word = digits.group(0).strip()
        denominator = digits.group("denominator")
        if denominator is not None and int(denominator) != 100:
            return ParsedAnswer("other_scale", None, word)
    elif words:
        number = float(_word_number(words))
        word = words.group(0)
    else:
        if REFUSAL_RE.search(cleaned):
            return ParsedAnswer("refusal", None, first_word(cleaned))
        return ParsedAnswer("no_number", None, first_word(cleaned))
    if not 0.0 <= number <= 100.0:
        return ParsedAnswer("out_of_range", None, word)
    return ParsedAnswer("answer", number / 100.0, word)


def parse_answer(text: str, answer_format: str) -> ParsedAnswer:
    """`parse_word_answer` or `parse_scale_answer`, by the question's format."""
    if answer_format == "word":
        return parse_word_answer(text)
    if answer_format == "scale":
        return parse_scale_answer(text)
    raise ValueError(f"unknown answer format {answer_format!r}")


def lexicon_table() -> dict[str, list[str]]:
    """The lemmas by value name (for documentation and the log)."""
    return {VALUE_NAMES[v]: sorted(words) for v, words in LEXICON.items()}


def all_forms(values: Iterable[float] | None = None) -> list[str]:
    wanted = set(values) if values is not None else None
    return sorted(f for f, e in FORMS.items() if wanted is None or e.value in wanted)
