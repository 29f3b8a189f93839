"""The shipped reader: it loads from the package, and it makes the decisions it was trained for."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.reader import FOLDER, READER_PATHS, SAMPLE, Reader, default_reader
from assistant.index.embed import SentenceEmbeddings
from assistant.pipeline import Assistant
from assistant.settings import Settings

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


def test_the_readers_weights_in_torch_give_the_shipped_graphs_decisions() -> None:
    # The torch paths rebuild the model from the int8 graph's weights, dequantised; the graph also rounds
    # its activations to int8, which moves some logits by up to about 1 (OTHER_PERIOD: -0.3 against -1.5).
    # A weight mapped to the wrong module would leave nothing of the decisions or of the sample's logits.
    shipped = default_reader()
    sample = np.concatenate([shipped.scores(question, sentences) for question, sentences in SAMPLE])
    exact = Reader(precision="fp32")
    for precision in ("fp32", "bf16"):
        rebuilt = Reader(precision=precision)
        assert rebuilt.path == precision
        answer, background, other = rebuilt.scores(QUESTION, [ANSWER, BACKGROUND, OTHER_PERIOD])
        assert answer > 0 > background and answer > other
        logits = np.concatenate([rebuilt.scores(question, sentences) for question, sentences in SAMPLE])
        assert logits @ sample / np.linalg.norm(logits) / np.linalg.norm(sample) > 0.999
        assert np.abs(logits - np.concatenate([exact.scores(q, s) for q, s in SAMPLE])).max() < 0.1


def test_auto_measures_the_readers_paths_once_and_records_the_choice(tmp_path: Path) -> None:
    reader = Reader(cache_dir=tmp_path, precision="auto")
    [record] = (tmp_path / "choices").glob("reader-*.json")
    measured = json.loads(record.read_text(encoding="utf-8"))
    assert measured["chosen"] == reader.path in READER_PATHS
    assert set(measured["measured"]) == set(READER_PATHS)
    assert all(row["cosine"] >= 0.999 for row in measured["measured"].values())  # all three agree with fp32
    record.write_text(record.read_text(encoding="utf-8").replace(f'"chosen": "{reader.path}"', '"chosen": "fp32"'))
    assert Reader(cache_dir=tmp_path, precision="auto").path == "fp32"  # the record is read, not measured again


def test_the_reader_precision_setting_is_how_the_answerer_runs_it(tmp_path: Path) -> None:
    settings = Settings(corpus_dir=tmp_path, model_cache_dir=tmp_path, reader_precision="bf16")
    answerer = ExtractiveAnswerer.from_settings(settings, SentenceEmbeddings())
    assert answerer.reader.path == "bf16"
