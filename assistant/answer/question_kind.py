"""What kind of answer a question asks for (a number, a time, a place, a name), and whether a sentence has one.

A "How many soldiers ..." question is not answered by a sentence without a number, however close its
words are: the extractive answerer scores sentences of the asked-for kind higher (TYPE_WEIGHT). It does
not abstain for want of one: fitted, that signal weighed nothing in the abstention model (eval/README.md).
"""

from __future__ import annotations

import re

from assistant.index.lexical import normalise

_TYPE_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "number",
        re.compile(
            r"\bhow (many|much|often|long|old|far|large|big)\b|\bwhat (number|percentage|share|proportion|amount)\b",
            re.I,
        ),
    ),
    ("time", re.compile(r"\bwhen\b|\b(what|which) (year|date|day|month|time)\b", re.I)),
    (
        "place",
        re.compile(r"\bwhere\b|\b(what|which) (city|country|town|region|place|state|nation|port|capital)\b", re.I),
    ),
    (
        "name",
        re.compile(
            r"^\s*(who|whom|whose)\b|\b(what|which) (person|party|company|group|team|band|organi[sz]ation|newspaper)\b",
            re.I,
        ),
    ),
)
_NUMBER_WORDS = (
    "one two three four five six seven eight nine ten eleven twelve dozen dozens twenty thirty forty fifty "
    "hundred hundreds thousand thousands million millions billion billions trillion half"
)
_NUMBER = re.compile(r"\d|\b(" + "|".join(_NUMBER_WORDS.split()) + r")\b", re.I)
_TIME = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|\b(january|february|march|april|may|june|july|august|september|october|november|december"
    r"|monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|tonight|week|month|year|years|"
    r"earlier|later|since|ago|spring|summer|autumn|winter|overnight)\b",
    re.I,
)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’-]+")


def expected_type(question: str) -> str | None:
    """'number', 'time', 'place', 'name', or None when the question does not say."""
    for kind, cue in _TYPE_CUES:
        if cue.search(question):
            return kind
    return None


def has_type(sentence: str, kind: str | None, question: str) -> bool:
    """Whether a sentence holds an answer of the kind (a name or place must be one the question lacks)."""
    if kind is None:
        return True
    if kind == "number":
        return bool(_NUMBER.search(sentence))
    if kind == "time":
        return bool(_TIME.search(sentence))
    asked = {normalise(word) for word in re.findall(r"\w+", question)}
    return any(
        normalise(word.split("'")[0].split("’")[0]) not in asked for word in _CAPITALISED.findall(sentence.strip())
    )
