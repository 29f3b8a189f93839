"""The shipped reader: it loads from the package, and it makes the decisions it was trained for."""

from __future__ import annotations

from assistant.answer.reader import FOLDER, default_reader
from assistant.pipeline import Assistant

QUESTION = "Which university did Lena Marwitz work at from 2004 to 2005?"
BACKGROUND = "Lena Marwitz (born 1976 in Rostock) is a German physicist known for her work on ultracold atoms."
ANSWER = "From 2004 to 2005 she was a postdoctoral researcher at the University of Arizona in Tucson."
OTHER_PERIOD = "In 2006 she moved to the Niels Bohr Institute in Copenhagen, where she led a group until 2009."


def test_the_reader_ships_inside_the_package_within_its_size() -> None:
    assert (FOLDER / "reader.onnx").stat().st_size < 30_000_000
    assert (FOLDER / "README.md").read_text(encoding="utf-8").count("CC BY-SA 4.0")


def test_the_sentence_that_answers_outscores_the_questions_background_and_another_period() -> None:
    answer, background, other = default_reader().scores(QUESTION, [ANSWER, BACKGROUND, OTHER_PERIOD])
    assert answer > 0 > background
    assert answer > other


def test_a_sentences_score_barely_depends_on_the_others_read_with_it() -> None:
    # The int8 graph quantises activations per batch, so batch-mates move a logit a little (about 0.1 here);
    # never enough to swap an answer with a non-answer.
    reader = default_reader()
    alone = reader.scores(QUESTION, [ANSWER])[0]
    together = reader.scores(QUESTION, [BACKGROUND, ANSWER, OTHER_PERIOD * 3])[1]
    assert abs(alone - together) < 0.3


def test_a_question_about_a_period_is_answered_from_that_periods_sentence(periods: Assistant) -> None:
    answer = periods.ask(QUESTION, as_of="2026-01-01")
    assert not answer.abstained and "University of Arizona" in answer.text
    later = periods.ask("Where did Lena Marwitz lead a research group between 2006 and 2009?", as_of="2026-01-01")
    assert "Niels Bohr Institute" in later.text


def test_a_question_about_a_period_the_page_does_not_cover_is_declined(periods: Assistant) -> None:
    answer = periods.ask("Who coached FC Riverside Athletic from 2015 to 2020?", as_of="2026-01-01")
    assert answer.abstained and not answer.citations
    assert answer.time_frame is not None and answer.time_frame.start.year == 2015
    assert answer.nearest  # the closest sentences are still shown, each with what it speaks of
