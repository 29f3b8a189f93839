"""Time in a question: the moment it is asked from (`as_of`) and the stretch of time it speaks of.

"this week", "last month", "yesterday", "on Tuesday", "in 2023", "the 2022 election", "since February 2022"
and "last year" are read relative to `as_of`, the date a question is asked from (today unless the caller says
otherwise).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable

from assistant.errors import UsageError, echoed
from assistant.types import TimeFrame  # the record; how questions name times is read here


def recency(day: dt.date, now: dt.date, days: float) -> float:
    """How recent a date is as of another: exp(-age / days), age in days (a later date counts as age 0).
    The one rule behind retrieval's recency (settings.recency_days) and the sentence signal's (RECENCY_DAYS)."""
    return math.exp(-max((now - day).days, 0) / days)


_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + ")"
_NUMBER_WORDS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "ten": 10}
_COUNT = r"(\d{1,3}|a|one|two|three|four|five|six|seven|ten)"
_YEAR = r"((?:19|20)\d\d)"
# A year named as a period ("from 1998 to 2004", "before 1937") may lie long before the news.
_ANY_YEAR = r"(1[5-9]\d\d|20\d\d)"
_UNIT_DAYS = {"day": 1, "week": 7, "month": 31, "year": 366}

_Rule = Callable[[re.Match[str], dt.date], "tuple[dt.date, dt.date] | None"]


def parse_date(value: str | dt.date | None, what: str = "as-of date") -> dt.date | None:
    """A date from YYYY-MM-DD or YYYY/MM/DD (a date passes through); UsageError for anything else."""
    if value is None or isinstance(value, dt.date):
        return value
    text = value.strip()
    if not text:
        return None
    match = re.fullmatch(r"(\d{4})[-/](\d{2})[-/](\d{2})", text)
    try:
        if not match:
            raise ValueError
        return dt.date(*(int(part) for part in match.groups()))
    except ValueError:
        raise UsageError(f"The {what} '{echoed(value)}' is not a date; write it as YYYY-MM-DD.") from None


def resolve_as_of(as_of: str | dt.date | None) -> dt.date:
    """The as-of date of a question: the given one, or today."""
    return parse_date(as_of) or dt.date.today()


def timeframe(question: str, as_of: dt.date) -> TimeFrame | None:
    """The stretch of time a question speaks of, relative to as_of; None when it names none."""
    text = question.lower()
    for pattern, frame in _RULES:
        match = re.search(pattern, text)
        if match:
            try:
                found = frame(match, as_of)
            except OverflowError:  # reaches back before the calendar's first day ("this week" in year 1)
                found = (dt.date.min, as_of)
            if found is not None:
                start, end = found
                return TimeFrame(start, min(end, as_of), match.group(0))
    return None


def _years(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    first, last = int(match.group(1)), int(match.group(2))
    if first > last or first > as_of.year:
        return None
    return dt.date(first, 1, 1), dt.date(last, 12, 31)


def _before(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    year = int(match.group(1))
    return (dt.date.min, dt.date(year - 1, 12, 31)) if year <= as_of.year else None


def _after(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    year = int(match.group(1))
    return (dt.date(year + 1, 1, 1), as_of) if year < as_of.year else None


def _days_back(days: int) -> _Rule:
    return lambda match, as_of: (as_of - dt.timedelta(days=days), as_of)


def _month_range(year: int, month: int) -> tuple[dt.date, dt.date]:
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    return dt.date(year, month, 1), following - dt.timedelta(days=1)


def _last_month(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date]:
    first_of_this = as_of.replace(day=1)
    previous = first_of_this - dt.timedelta(days=1)
    return _month_range(previous.year, previous.month)


def _this_month(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date]:
    # Early in a month, "this month" still reaches back a week: news of the 2nd is about the 1st and before.
    return min(as_of.replace(day=1), as_of - dt.timedelta(days=7)), as_of


def _year(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    year = int(match.group(match.lastindex or 1))
    if year > as_of.year:
        return None  # "the 2028 election" is about the future: no document can be dated then
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def _month_of_year(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    year = int(match.group(3))
    if year > as_of.year:
        return None
    return _month_range(year, _MONTHS[match.group(2)])


def _since_month(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    year = int(match.group(3))
    start = dt.date(year, _MONTHS[match.group(2)], 1)
    return (start, as_of) if start <= as_of else None


def _since_year(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    start = dt.date(int(match.group(2)), 1, 1)
    return (start, as_of) if start <= as_of else None


def _past(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date]:
    count = match.group(2)
    number = int(count) if count and count.isdigit() else _NUMBER_WORDS.get(count or "a", 1)
    return as_of - dt.timedelta(days=number * _UNIT_DAYS[match.group(3)]), as_of


def _weekend(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date]:
    # The last Saturday-Sunday on or before as_of ("last weekend" asked on a Monday is two days back).
    sunday = as_of - dt.timedelta(days=(as_of.weekday() + 1) % 7)
    return sunday - dt.timedelta(days=1), sunday


_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


# Days named after a weekday that are not a day of the week the question is asked in ("Bloody Sunday").
_NAMED_DAYS = re.compile(r"\b(bloody|good|black|super|ash|cyber|palm|easter|holy|maundy|shrove|giving|whit) $")


def _weekday(match: re.Match[str], as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    # "on Tuesday", "Tuesday's match": the latest such day on or before as_of, and the news of the days since;
    # a day earlier too, as a story may be dated in another time zone.
    if _NAMED_DAYS.search(match.string[: match.start()]):
        return None  # "the Good Friday Agreement", "Super Tuesday"
    back = (as_of.weekday() - _WEEKDAYS.index(match.group(1))) % 7
    return as_of - dt.timedelta(days=back + 1), as_of


# First match wins: the more specific wordings come first.
_RULES: list[tuple[str, _Rule]] = [
    (r"\b(?:from|between) " + _ANY_YEAR + r" (?:to|and|until|through) " + _ANY_YEAR + r"\b", _years),
    (r"\b(?:in|during|from) " + _ANY_YEAR + r" ?[-–] ?" + _ANY_YEAR + r"\b", _years),
    (r"\bbefore " + _ANY_YEAR + r"\b", _before),
    (r"\bafter " + _ANY_YEAR + r"\b", _after),
    (r"\b(since) " + _MONTH + r",? " + _YEAR + r"\b", _since_month),
    (r"\b(since) " + _YEAR + r"\b", _since_year),
    (r"\b(in|during|of|by) " + _MONTH + r",? " + _YEAR + r"\b", _month_of_year),
    (r"\b()" + _MONTH + r",? " + _YEAR + r"\b", _month_of_year),
    (r"\blast week\b", lambda m, as_of: (as_of - dt.timedelta(days=14), as_of - dt.timedelta(days=6))),
    (r"\blast month\b", _last_month),
    (r"\blast year\b", lambda m, as_of: (dt.date(as_of.year - 1, 1, 1), dt.date(as_of.year - 1, 12, 31))),
    (r"\b(past|last) " + _COUNT + r" (day|week|month|year)s?\b", _past),
    (r"\b(past|last) ()(day|week|month|year)\b(?! or)", _past),
    (r"\btoday\b|\btonight\b", _days_back(1)),
    (r"\byesterday\b", lambda m, as_of: (as_of - dt.timedelta(days=2), as_of - dt.timedelta(days=1))),
    (r"\b(this|last) weekend\b", _weekend),
    (r"\bthis week\b", _days_back(7)),
    (r"\bthis month\b", _this_month),
    (r"\b(this|earlier this) year\b", lambda m, as_of: (dt.date(as_of.year, 1, 1), as_of)),
    (r"\b(in|during) (?:the )?" + _ANY_YEAR + r"\b", _year),
    (r"\b(" + "|".join(_WEEKDAYS) + r")\b", _weekday),
    # A year naming an event ("Time's 2022 Person of the Year", "the 2024 election"), not a span ("2022 to 2024").
    (r"\b" + _YEAR + r"(?= (?!and\b|to\b|or\b|through\b|-)[a-z])", _year),
]
