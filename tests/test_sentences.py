"""The candidate sentences' signals mean the same on every corpus: recency, dated or not."""

from __future__ import annotations

from pathlib import Path

from assistant.answer.extractive import read, select
from assistant.answer.models import ABSTENTION_MODEL, READER_MODEL, SENTENCE_MODEL
from assistant.answer.reader import default_reader
from assistant.answer.sentences import SIGNALS, Candidate, candidates
from assistant.pipeline import Assistant
from assistant.retrieval.query import make_query
from assistant.settings import Settings


def _candidates(assistant: Assistant, question: str, as_of: str) -> list[Candidate]:
    query = make_query(question, None, as_of)
    vector = assistant.search.embed_query(query)
    snapshot = assistant.search.snapshot
    return candidates(query, vector, assistant.search.search(query, 10, None, vector, snapshot), snapshot)


def test_recency_counts_from_the_newest_document_the_question_can_see(timeline: Assistant) -> None:
    found = _candidates(timeline, "Where did the negotiators meet?", "2025-07-01")
    recency = {c.passage.chunk.doc_id: c.signals["recency"] for c in found}
    assert recency["2025-06-03-conditions"] == 1.0, "the newest document by the as-of date is current"
    assert recency["2022-03-29-istanbul-round"] < 0.1
    assert recency["background-glossary"] == 0.5, "an undated document among dated ones: unknown"
    assert "2026-02-10-after-the-deadline" not in recency


def test_in_a_corpus_without_dates_every_sentence_is_current(tmp_path: Path, fake_embeddings: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "talks.txt").write_text("Talks\n\nThe negotiators met in Istanbul for talks.\n", encoding="utf-8")
    (corpus / "harvest.txt").write_text("Harvest\n\nThe wheat harvest beat the forecasts.\n", encoding="utf-8")
    assistant = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index"))
    assistant.ingest()
    found = _candidates(assistant, "Where did the negotiators meet?", "2025-07-01")
    assert found and all(c.signals["recency"] == 1.0 for c in found)


def test_the_models_weigh_exactly_the_signals_computed(timeline: Assistant) -> None:
    """A signal added to sentences.py but not fitted (or fitted but gone) would be silently ignored or fail."""
    found = _candidates(timeline, "Where did the negotiators meet?", "2025-07-01")
    assert found and all(list(c.signals) == list(SIGNALS) for c in found)
    assert list(SENTENCE_MODEL.weights) == list(SIGNALS)
    assert list(SENTENCE_MODEL.means) == list(SENTENCE_MODEL.scales) == list(SIGNALS)
    # The reader model weighs what reading adds to them: the sentence model's score, the reader's, the time.
    query = make_query("Where did the negotiators meet?", None, "2025-07-01")
    read_ones = read(query, found, default_reader())
    assert read_ones and all(list(c.signals) == [*SIGNALS, *READER_MODEL.weights] for c in read_ones)
    assert list(READER_MODEL.means) == list(READER_MODEL.scales) == list(READER_MODEL.weights)
    vector = timeline.search.embed_query(query)
    passages = timeline.search.search(query, 5, None, vector, timeline.search.snapshot)
    selection = select(query, vector, passages, timeline.search.snapshot, max_sentences=3)
    assert set(ABSTENTION_MODEL.weights) <= set(selection.signals)
