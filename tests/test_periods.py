"""The time a sentence speaks of, and whether it is the time a question names."""

from __future__ import annotations

import datetime as dt

import pytest

from assistant.answer.periods import fits, spoken_of
from assistant.retrieval.timeframe import timeframe

D = dt.date
ASKED = D(2026, 1, 1)


@pytest.mark.parametrize(
    ("sentence", "periods"),
    [
        ("From 2004 to 2005 she was a postdoctoral researcher in Tucson.", [(D(2004, 1, 1), D(2005, 12, 31))]),
        ("He coached the team between 1994 and 1998.", [(D(1994, 1, 1), D(1998, 12, 31))]),
        ("The yard repaired ferries (1959–1975).", [(D(1959, 1, 1), D(1975, 12, 31))]),
        ("Since 2019 she has directed the institute.", [(D(2019, 1, 1), D(9999, 12, 31))]),
        ("The club played at Mill Lane until 1967.", [(dt.date.min, D(1967, 12, 31))]),
        ("Talks resumed in March 2022.", [(D(2022, 3, 1), D(2022, 3, 31))]),
        (
            "It was founded in 1921 and moved in 1968.",
            [(D(1921, 1, 1), D(1921, 12, 31)), (D(1968, 1, 1), D(1968, 12, 31))],
        ),
        # Counted things are not years.
        ("About 1500 troops crossed the river.", []),
        ("The stadium holds 18,000 spectators.", []),
        ("She taught physics for a decade.", []),
    ],
)
def test_a_sentence_names_its_periods(sentence: str, periods: list[tuple[dt.date, dt.date]]) -> None:
    assert spoken_of(sentence) == periods


def test_a_sentence_about_another_period_does_not_fit() -> None:
    frame = timeframe("Which university did Lena Marwitz work at from 2004 to 2005?", ASKED)
    assert fits(frame, "From 2004 to 2005 she was a postdoctoral researcher at the University of Arizona.", None) == 1
    assert fits(frame, "In 2006 she moved to the Niels Bohr Institute, where she led a group until 2009.", None) == -1
    assert fits(frame, "Lena Marwitz (born 1976 in Rostock) is a German physicist.", None) == -1
    # An undated sentence of an undated page could be about any time.
    assert fits(frame, "She is known for her work on ultracold atoms.", None) == 0


def test_a_sentence_without_a_year_speaks_of_its_documents_date() -> None:
    frame = timeframe("What did Russia attack this week?", D(2025, 1, 2))
    assert fits(frame, "Russia attacked energy sites with drones.", "2024-12-30") == 1
    # Dated outside it and naming no date: unknown here (the answerer's half-year rule judges the story's date).
    assert fits(frame, "Russia attacked energy sites with drones.", "2024-06-30") == 0
    # A story of the week that compares with an earlier year still speaks of the week.
    assert fits(frame, "It was the largest attack since the invasion in February 2022.", "2024-12-30") == 1
    assert fits(frame, "The invasion began in February 2022.", "2024-06-30") == -1


def test_no_frame_no_judgement() -> None:
    assert fits(None, "In 1999 the mission moved to Geneva.", None) == 0
