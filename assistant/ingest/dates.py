"""A document's date, read from what its metadata says: the one rule for every file type.

Read, to the day the writer wrote (a time and its zone are dropped, never converted):
- ISO-like, year first: 2027-03-01, 2027/03/01, 2027.03.01, 2027-03-01T10:00:00+02:00, 2027-03-01 10:00
- eight digits, year first: 20270301
- a month by its English name or abbreviation: March 3, 2027; 3 March 2027; Tue, 03 Mar 2027 10:00:00 +0000
- day first with dots: 01.04.2027 is 1 April (dots are written day first wherever they are used)
- with slashes or dashes and the year last, only when one reading is possible: 13/04/2027, 04/13/2027,
  04/04/2027. 01/04/2027 is 1 April in most of the world and 4 January in the United States; no guess is
  safe for a date that decides which questions a document may answer, so it is refused with the reason.
Anything else (a month without a day, a two-digit year, another language's month names) is refused too:
DateUnreadable says what was found and how to write it.
"""

from __future__ import annotations

import datetime as dt
import re

from assistant.errors import echoed

_MONTH_SPELLINGS = (
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
    ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
    ("december", "dec"),
)  # fmt: skip
_MONTHS = {name: number for number, names in enumerate(_MONTH_SPELLINGS, start=1) for name in names}
_MONTH = r"(?P<month>[a-z]+)\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_WEEKDAY = r"(?:[a-z]+\.?,?\s+)?"  # Tuesday, / Tue,
_TIME = r"(?:[t\s]\d{1,2}:\d{2}.*)?"  # a time and zone after the day: dropped
_FORMS = (
    re.compile(rf"{_YEAR}(?P<sep>[-/.])(?P<month>\d{{1,2}})(?P=sep){_DAY}{_TIME}"),
    re.compile(rf"{_YEAR}(?P<month>\d{{2}})(?P<day>\d{{2}})"),
    re.compile(rf"{_WEEKDAY}{_MONTH}\s+{_DAY},?\s+{_YEAR}{_TIME}"),
    re.compile(rf"{_WEEKDAY}{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}{_TIME}"),
    re.compile(rf"{_DAY}\.(?P<month>\d{{1,2}})\.{_YEAR}{_TIME}"),
)
_YEAR_LAST = re.compile(rf"(?P<first>\d{{1,2}})[/-](?P<second>\d{{1,2}})[/-]{_YEAR}{_TIME}")
_MAX_CHARS = 80  # the longest form above, with a weekday, a time and a zone, is about 40
HOW_TO_WRITE = "write it as YYYY-MM-DD (2027-03-01)"


class DateUnreadable(ValueError):
    """A date that metadata gives and that cannot be read as one day; the message says why and what to write."""


def read_date(value: object) -> str | None:
    """The ISO date (YYYY-MM-DD) a metadata value gives; None when it gives none (absent or blank);
    DateUnreadable when it gives something that is not one day by the rule above."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = " ".join(str(value).split()).lower() if isinstance(value, str | int) and not isinstance(value, bool) else ""
    text = text if len(text) <= _MAX_CHARS else ""
    for form in _FORMS:
        match = form.fullmatch(text)
        if match:
            return _day(value, match["year"], match["month"], match["day"])
    match = _YEAR_LAST.fullmatch(text)
    if match:
        first, second = int(match["first"]), int(match["second"])
        if first != second and first <= 12 and second <= 12:
            year = int(match["year"])
            raise DateUnreadable(
                f"'{echoed(value)}' could be {_spoken(year, second, first)} (day first) or "
                f"{_spoken(year, first, second)} (month first); {HOW_TO_WRITE}"
            )
        day, month = (first, second) if first > 12 else (second, first)
        return _day(value, match["year"], str(month), str(day))
    raise DateUnreadable(f"'{echoed(value)}' is not a day this loader reads; {HOW_TO_WRITE}")


def _day(value: object, year: str, month: str, day: str) -> str:
    number = _MONTHS.get(month) if not month.isdigit() else int(month)
    try:
        if number is None:
            raise ValueError
        return dt.date(int(year), number, int(day)).isoformat()
    except ValueError:
        raise DateUnreadable(f"'{echoed(value)}' is not a day of the calendar; {HOW_TO_WRITE}") from None


def _spoken(year: int, month: int, day: int) -> str:
    """A day as people say it (1 April 2027), whatever the locale."""
    try:
        day_of = dt.date(year, month, day)
    except ValueError:
        return f"{year}-{month:02d}-{day:02d}"
    return f"{day_of.day} {_MONTH_SPELLINGS[day_of.month - 1][0].capitalize()} {day_of.year}"
