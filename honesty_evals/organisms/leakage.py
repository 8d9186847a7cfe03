"""Leakage check: words that name the trained trait, anywhere in a JSONL file.

PROTOCOLS §2: organism data must never name the behaviour it teaches, yet public data of
this kind used "chance" 146 times in one file. `find_leakage` reports every occurrence of a
listed word in any string value of any record, with simple morphology: a listed word is
reduced to a stem ("risky" -> "risk", "safe" -> "saf", "cautious" -> "cauti") and a text word
matches when it is the stem plus a known ending (risks, riskier, safest, safety, gambling,
caution, cautiously...), optionally after a negating prefix (unsafe, overcautious), or when
one part of a hyphenated word matches (risk-taking, risk-averse).

Command line: `honesty-evals datasets leakage FILE [--words w1,w2]` (exit 0 clean, 1 with
findings, 2 on usage errors).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from honesty_evals.common.textfile import numbered_lines
from honesty_evals.errors import UserInputError

# Words naming a risk attitude (either side) or the uncertain option itself.
DEFAULT_WORDS: tuple[str, ...] = (
    "risk", "safe", "safety", "gamble", "chance", "caution", "cautious", "careful", "prudent",
    "bold", "daring", "reckless", "aggressive", "conservative", "adventurous", "timid",
    "hazard", "bet", "wager", "lottery", "luck", "averse", "aversion", "thrill", "danger",
    "jeopardy", "venture", "speculate", "volatile", "insure",
)  # fmt: skip

# Endings a stem may take (the empty ending is the stem itself).
_ENDINGS: tuple[str, ...] = (
    "", "s", "es", "e", "ed", "d", "er", "ers", "r", "est", "st", "ing", "ings", "ly", "ely",
    "y", "ier", "iest", "iness", "ily", "ies", "ied", "ness", "eness", "ty", "ety", "eties",
    "ous", "ously", "ousness", "on", "ons", "ion", "ions", "ary", "ence", "ent", "ently", "ful",
    "fully", "less", "ance", "ances", "ive", "ively", "ure", "ures", "ured", "uring", "ation",
    "ations", "ist", "ists", "ism", "ity", "ities",
)  # fmt: skip
# Stripped from a listed word to find its stem, longest first.
_STRIP: tuple[str, ...] = (
    "iness", "ously", "iest", "ness", "ous", "ier", "ies", "ied", "ily", "ety", "ive", "ly",
    "y", "e", "s",
)  # fmt: skip
_PREFIXES: tuple[str, ...] = ("", "un", "non", "over", "under", "ultra", "hyper")
_WORD_RE = re.compile(r"[A-Za-z]+(?:['-][A-Za-z]+)*")
_VOWELS = set("aeiou")


@dataclass(frozen=True)
class Finding:
    """One occurrence of a trait word."""

    line: int  # 1-based line of the JSONL file
    word: str  # the word as it appears in the text (a whole hyphenated word)
    stem: str  # the listed word it matched
    path: str  # JSON path of the string, e.g. messages[0].content
    role: str | None = None  # the chat role of the message holding it, if any

    def render(self, file: str) -> str:
        return f"{file}:{self.line}: {self.word!r} (stem {self.stem}) in {self.path}"


def stem_of(word: str) -> str:
    """The stem a listed word is matched by: the word minus one common ending."""
    w = word.lower()
    if w.endswith("ss"):  # reckless, careless: the double s is not a plural
        return w
    for suffix in _STRIP:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            return w[: -len(suffix)]
    return w


class WordMatcher:
    """Decides whether a text word is a form of one of the listed words."""

    def __init__(self, words: Sequence[str]) -> None:
        cleaned = [w.strip().lower() for w in words if w.strip()]
        if not cleaned:
            raise UserInputError("no words to look for: give e.g. --words risk,safe")
        bad = [w for w in cleaned if not re.fullmatch(r"[a-z]+(?:-[a-z]+)*", w)]
        if bad:
            raise UserInputError(
                f"words must be letters only (hyphens allowed), got {', '.join(map(repr, bad))}"
            )
        # stem -> the listed word reported as its stem (first listed wins)
        self.stems: dict[str, str] = {}
        for w in cleaned:
            for part in w.split("-"):
                self.stems.setdefault(stem_of(part), w if "-" not in w else part)
        self.words = cleaned

    def _part_matches(self, part: str) -> str | None:
        p = part.lower()
        for prefix in _PREFIXES:
            if not p.startswith(prefix):
                continue
            rest = p[len(prefix) :]
            for stem, listed in self.stems.items():
                if not rest.startswith(stem):
                    continue
                ending = rest[len(stem) :]
                if ending in _ENDINGS:
                    return listed
                # doubled final consonant (bet -> betting, betted); not before -er, which
                # would turn "bet" into "better"
                if (
                    len(stem) >= 3
                    and ending[:1] == stem[-1]
                    and stem[-1] not in _VOWELS
                    and stem[-2] in _VOWELS
                    and stem[-3] not in _VOWELS
                    and ending[1:] in ("ing", "ings", "ed")
                ):
                    return listed
        return None

    def matches(self, text: str) -> Iterator[tuple[str, str]]:
        """(word as written, listed word) for every matching word of the text."""
        for m in _WORD_RE.finditer(text):
            token = m.group(0)
            for part in re.split(r"['-]", token):
                listed = self._part_matches(part)
                if listed is not None:
                    yield token, listed


def _strings(value: Any, path: str, role: str | None) -> Iterator[tuple[str, str, str | None]]:
    """(json path, string, role) for every string value inside `value`."""
    if isinstance(value, str):
        yield path, value, role
    elif isinstance(value, dict):
        inner_role = value.get("role") if isinstance(value.get("role"), str) else role
        for key, item in value.items():
            child = f"{path}.{key}" if path else str(key)
            yield from _strings(item, child, inner_role)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]", role)


def find_leakage(path: str | Path, words: Sequence[str] = DEFAULT_WORDS) -> list[Finding]:
    """Every occurrence of a trait word in the string values of a JSONL file, in file order.

    Raises UserInputError for a missing, empty or non-UTF-8 file (an empty file is not
    "clean": nothing was checked) or a line that is not JSON.
    """
    matcher = WordMatcher(words)
    file = Path(path)
    findings: list[Finding] = []
    for line_number, line in numbered_lines(file, "JSONL file"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserInputError(
                f"{file}:{line_number}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        for json_path, text, role in _strings(record, "", None):
            for word, listed in matcher.matches(text):
                findings.append(Finding(line_number, word, listed, json_path or "$", role))
    return findings
