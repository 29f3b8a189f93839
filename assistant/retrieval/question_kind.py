"""What a question asks: the kind of answer (a number, a time, a place, a name), whether it asks how something
changed, and which part of it asks; and whether a sentence holds an answer of the kind.

A "How many soldiers ..." question is not answered by a sentence without a number, however close its
words are: the extractive answerer's sentence model weighs the `kind` signal (answer/sentences.py). It does
not abstain for want of one: fitted, that signal weighed nothing in the abstention model (eval/README.md).
"""

from __future__ import annotations

import re

from assistant.index.lexical import normalise

_TYPE_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "number",
        re.compile(
            r"\bhow (many|much|often|long|old|far|large|big|tall|high)\b|\b(what|which) (is |was |are )?(the )?(\w+ )?"
            r"(number|percentage|share|proportion|amount|price|cost|age|rate|total|sum|score|population)\b",
            re.I,
        ),
    ),
    ("time", re.compile(r"\bwhen\b|\b(what|which|in what) (year|date|day|month|time|decade|century)\b", re.I)),
    (
        "place",
        re.compile(
            r"\bwhere\b|\b(what|which) (city|country|town|region|place|state|nation|port|capital|county|island)\b",
            re.I,
        ),
    ),
    (
        "name",
        re.compile(
            r"^\s*(who|whom|whose)\b|\b(who|whom|whose)\b[^.?!]*\?\s*$|(^|[.?!:]\s+)(which|what)\s+(?!(is|was|are|were"
            r"|did|does|do|has|have|had|can|could|will|would|should|kind|type|sort|happened|happens)\b)\w+",
            re.I,
        ),
    ),
)
_NUMBER_WORDS = {
    "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7", "eight": "8",
    "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "dozen": "12", "twenty": "20", "thirty": "30",
    "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000", "million": "1000000",
    "billion": "1000000000", "trillion": "1000000000000", "half": "0.5",
}  # fmt: skip
_NUMBER = re.compile(r"\d[\d,.]*\d|\d|\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_TIME = re.compile(
    r"\b(1[5-9]\d\d|20\d\d)s?\b|\b(january|february|march|april|may|june|july|august|september|october|november"
    r"|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|tonight|spring|summer"
    r"|autumn|fall|winter)\b",
    re.I,
)
_NAME = re.compile(r"\b[A-Z][\w'’&-]*[\w]|\b[A-Z]\b")


def expected_type(question: str) -> str | None:
    """'number', 'time', 'place', 'name', or None when the question does not say."""
    for kind, cue in _TYPE_CUES:
        if cue.search(question):
            return kind
    return None


def answer_items(text: str, kind: str | None) -> set[str]:
    """What in a text could answer a question of the kind: numbers, times, or names (capitalised words)."""
    if kind == "number":
        return {_NUMBER_WORDS.get(m.group(0).lower(), m.group(0).replace(",", "")) for m in _NUMBER.finditer(text)}
    if kind == "time":
        return {m.group(0).lower() for m in _TIME.finditer(text)}
    stripped = text.strip().lstrip("\"“'‘(")
    names = set()
    for match in _NAME.finditer(stripped):
        if match.start() == 0 and not match.group(0).isupper():
            continue  # the first word of a sentence is capitalised anyway
        names.add(normalise(match.group(0).split("'")[0].split("’")[0]))
    return names


def new_items(sentence: str, kind: str | None, question: str) -> set[str]:
    """The numbers, times or names (by kind) of a sentence that the question does not already give."""
    asked = answer_items(question, kind)
    if kind not in ("number", "time"):
        asked |= {normalise(word) for word in re.findall(r"\w+", question)}
    return answer_items(sentence, kind) - asked


def holds_new(sentence: str, kind: str | None, question: str) -> bool:
    """Whether a sentence holds a number, time or name (by kind) that the question does not already give."""
    return bool(new_items(sentence, kind, question))


# "How has X changed?", "timeline of ...": answered with dated quotes from several documents, oldest first.
# Not a word joined to another by a hyphen: "life-changing bonuses" is not about change.
_CHANGE = re.compile(
    r"(?<!-)\b(chang\w*|evolv\w*|shift\w*|timeline|over time|over the (years|months)|develop\w* since)\b(?!-)", re.I
)


def asks_about_change(question: str) -> bool:
    """Whether a question asks how something changed over time ("How have the Kremlin's conditions changed?")."""
    return bool(_CHANGE.search(question))


_CLAUSE_END = re.compile(r"(?<=[.!?:;])\s+(?=[A-Z\"“])")


def asking_part(question: str) -> str:
    """The part of a question that asks, without the background some open with ("X won the cup. How many ...?")."""
    parts = [part for part in _CLAUSE_END.split(question.strip()) if part.strip()]
    return parts[-1] if parts else question
