"""The time a sentence speaks of, checked against the time a question names.

"Which university did she work at from 2004 to 2005?" is not answered by "She taught in Tucson from 2006
to 2009", however alike the words: the sentence speaks of another period. A sentence's periods are the
years, months and spans it names ("in 1999", "March 2022", "from 2004 to 2005", "2006-2009", "since
2014"); a story dated within the time asked speaks of it, whatever earlier years it compares with.
"""

from __future__ import annotations

import datetime as dt
import re

from assistant.types import TimeFrame

_YEAR = r"(1[5-9]\d\d|20\d\d)"
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_MONTH_NUMBER = {name[:3]: i for i, name in enumerate(_MONTHS.split("|")[:12], start=1)}
_OPEN_END = dt.date(9999, 12, 31)
# Spans first: their years are not read again one by one.
_SPAN = re.compile(
    r"\b(?:from |between )?" + _YEAR + r"(?: ?[-–—] ?| to | and | until | through )" + _YEAR + r"\b", re.I
)
_SINCE = re.compile(r"\b(?:since|from|after) (?:(?:" + _MONTHS + r") )?" + _YEAR + r"\b", re.I)
_UNTIL = re.compile(r"\b(?:until|till|before|by) (?:(?:" + _MONTHS + r") )?" + _YEAR + r"\b", re.I)
_MONTH_YEAR = re.compile(r"\b(" + _MONTHS + r")\.?(?: \d{1,2},?)? " + _YEAR + r"\b", re.I)
# A number that counts things ("about 1500 troops") is not a year.
_COUNTED = re.compile(r"(about|around|some|over|nearly|almost|than|least|up to|only|just) $", re.I)
_YEAR_ALONE = re.compile(r"\b" + _YEAR + r"\b(?!\s*(?:people|troops|soldiers|civilians|km|kilometres|miles|tons))")

Period = tuple[dt.date, dt.date]


def spoken_of(text: str) -> list[Period]:
    """The periods a sentence names, each as its first and last day; [] when it names none."""
    periods: list[Period] = []
    taken: list[tuple[int, int]] = []

    def add(match: re.Match[str], period: Period) -> None:
        if not any(a < match.end() and match.start() < b for a, b in taken):
            taken.append(match.span())
            periods.append(period)

    for match in _SPAN.finditer(text):
        first, last = int(match.group(1)), int(match.group(2))
        if first <= last:
            add(match, (dt.date(first, 1, 1), dt.date(last, 12, 31)))
    for match in _SINCE.finditer(text):
        add(match, (dt.date(int(match.group(1)), 1, 1), _OPEN_END))
    for match in _UNTIL.finditer(text):
        # "In 2006 she moved to Copenhagen, where she led a group until 2009": from the year named before it.
        last = int(match.group(1))
        earlier = [int(y) for y in re.findall(_YEAR, text[: match.start()]) if int(y) <= last]
        add(match, (dt.date(earlier[-1], 1, 1) if earlier else dt.date.min, dt.date(last, 12, 31)))
    for match in _MONTH_YEAR.finditer(text):
        month, year = _MONTH_NUMBER[match.group(1).lower()[:3]], int(match.group(2))
        following = dt.date(year + (month == 12), month % 12 + 1, 1)
        add(match, (dt.date(year, month, 1), following - dt.timedelta(days=1)))
    for match in _YEAR_ALONE.finditer(text):
        if not _COUNTED.search(text[: match.start()]):
            year = int(match.group(1))
            add(match, (dt.date(year, 1, 1), dt.date(year, 12, 31)))
    return periods


def fits(frame: TimeFrame | None, text: str, document_date: str | None) -> int:
    """+1 when the sentence speaks of the time the question names, -1 when it speaks only of other times,
    0 when the question names none or the sentence's time is unknown (it names none and is undated)."""
    if frame is None:
        return 0
    periods = spoken_of(text)
    dated_within = document_date is not None and frame.contains(dt.date.fromisoformat(document_date[:10]))
    if dated_within or any(start <= frame.end and frame.start <= end for start, end in periods):
        # A story of the time asked speaks of it, whatever earlier years it compares with ("the largest
        # attack since the invasion in February 2022").
        return 1
    # A story dated outside the time asked is judged by the dates it names; by its own date only through the
    # answerer's half-year rule (extractive.OLDER_THAN_ASKED), as a week's news is often dated a day off.
    return -1 if periods else 0
