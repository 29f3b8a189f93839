"""Time in questions: as-of dates and phrases like "this week" read relative to them."""

from __future__ import annotations

import datetime as dt

import pytest

from assistant.errors import UsageError
from assistant.retrieval.timeframe import parse_date, resolve_as_of, timeframe

D = dt.date


@pytest.mark.parametrize(
    ("question", "as_of", "start", "end"),
    [
        # Near a year's end the week before crosses into the previous year.
        ("What did Russia attack this week?", D(2025, 1, 2), D(2024, 12, 26), D(2025, 1, 2)),
        ("What happened last month?", D(2025, 1, 3), D(2024, 12, 1), D(2024, 12, 31)),
        ("What did he say last year?", D(2025, 1, 3), D(2024, 1, 1), D(2024, 12, 31)),
        ("What has happened this year?", D(2025, 1, 3), D(2025, 1, 1), D(2025, 1, 3)),
        ("Who was killed yesterday?", D(2025, 3, 1), D(2025, 2, 27), D(2025, 2, 28)),
        ("Where were talks held in 2023?", D(2025, 3, 1), D(2023, 1, 1), D(2023, 12, 31)),
        ("How many people have fled since February 2022?", D(2025, 3, 1), D(2022, 2, 1), D(2025, 3, 1)),
        ("What happened in March 2024?", D(2025, 3, 1), D(2024, 3, 1), D(2024, 3, 31)),
        ("What changed over the past two weeks?", D(2025, 3, 1), D(2025, 2, 15), D(2025, 3, 1)),
        ("Who won last weekend?", D(2025, 3, 3), D(2025, 3, 1), D(2025, 3, 2)),
        # A weekday is the latest one on or before as_of (a day earlier for time zones), and the news since:
        # asked on Thursday 2 January 2025, "Tuesday" is New Year's Eve.
        ("What did Zelensky say on Tuesday?", D(2025, 1, 2), D(2024, 12, 30), D(2025, 1, 2)),
        ("Who won Thursday's vote?", D(2025, 1, 2), D(2025, 1, 1), D(2025, 1, 2)),
        # A year naming an event is that year.
        ("Who was named Time's 2022 Person of the Year?", D(2023, 9, 15), D(2022, 1, 1), D(2022, 12, 31)),
        # Periods named by years, as encyclopedia questions ask them, however long ago.
        ("Which university did she work at from 2004 to 2005?", D(2026, 1, 1), D(2004, 1, 1), D(2005, 12, 31)),
        ("Who coached the club between 1994 and 1998?", D(2026, 1, 1), D(1994, 1, 1), D(1998, 12, 31)),
        ("Who ruled in 1850-1860?", D(2026, 1, 1), D(1850, 1, 1), D(1860, 12, 31)),
        ("What did the town live from before 1911?", D(2026, 1, 1), dt.date.min, D(1910, 12, 31)),
        ("Who led it after 2008?", D(2026, 1, 1), D(2009, 1, 1), D(2026, 1, 1)),
        ("Who won the cup in 1989?", D(2026, 1, 1), D(1989, 1, 1), D(1989, 12, 31)),
    ],
)
def test_phrases_are_read_relative_to_the_as_of_date(
    question: str, as_of: dt.date, start: dt.date, end: dt.date
) -> None:
    frame = timeframe(question, as_of)
    assert frame is not None
    assert (frame.start, frame.end) == (start, end)


def test_a_time_frame_never_reaches_past_the_as_of_date() -> None:
    frame = timeframe("What happened in 2025?", D(2025, 3, 1))
    assert frame is not None and frame.end == D(2025, 3, 1)


@pytest.mark.parametrize(
    "question",
    [
        "What are Russia's preconditions?",
        "Who will win the 2028 election?",
        "What did the Good Friday Agreement settle?",
        "What happened on Bloody Sunday?",
    ],
)
def test_no_frame_when_the_question_names_no_past_time(question: str) -> None:
    assert timeframe(question, D(2025, 3, 1)) is None


def test_as_of_dates_are_strict_and_default_to_today() -> None:
    assert parse_date("2025-07-01") == D(2025, 7, 1)
    assert parse_date("2025/07/01") == D(2025, 7, 1)
    assert resolve_as_of(None) == dt.date.today()
    for bad in ("2025-W27-1", "20250701", "2025-02-30", "yesterday"):
        with pytest.raises(UsageError, match="is not a date; write it as YYYY-MM-DD"):
            parse_date(bad)
