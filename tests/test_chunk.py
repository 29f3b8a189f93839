from __future__ import annotations

from assistant.ingest.chunk import chunk_document, split_sentences
from assistant.ingest.load import load_corpus
from assistant.types import Document

from .conftest import BUNDLED_CORPUS


def _seed() -> Document:
    documents, _ = load_corpus(BUNDLED_CORPUS)
    return documents[0]


def test_sentences_respect_abbreviations_initials_and_bullets() -> None:
    text = (
        "Kremlin spokesperson Dmitry Peskov accused Kyiv and the U.S. of slowing progress. "
        "Gen. Syrskyi met J. Smith at 5 p.m. on Monday.\n"
        '- "A quoted bullet line."\n'
        "A hard-wrapped sentence goes\non to the next line."
    )
    sentences = [text[s.start : s.end] for s in split_sentences(text)]
    assert sentences == [
        "Kremlin spokesperson Dmitry Peskov accused Kyiv and the U.S. of slowing progress.",
        "Gen. Syrskyi met J. Smith at 5 p.m. on Monday.",
        '"A quoted bullet line."',
        "A hard-wrapped sentence goes\non to the next line.",
    ]


def test_chunks_hold_whole_sentences_at_their_offsets() -> None:
    seed = _seed()
    chunks = chunk_document(seed, chunk_size=400, chunk_overlap=120)
    assert len(chunks) > 5
    sentence_spans = {(s.start, s.end) for s in split_sentences(seed.text, max_chars=400)}
    for chunk in chunks:
        assert chunk.text == seed.text[chunk.start : chunk.end]
        assert len(chunk.text) <= 400
        assert all((s.start, s.end) in sentence_spans for s in chunk.sentences)
        assert chunk.start == chunk.sentences[0].start and chunk.end == chunk.sentences[-1].end
    # every sentence is in some chunk; between chunks there is nothing but white space and bullet marks
    covered = {(s.start, s.end) for c in chunks for s in c.sentences}
    assert covered == sentence_spans
    for before, after in zip(chunks, chunks[1:], strict=False):
        assert not seed.text[before.end : after.start].strip(" \n-")


def test_chunk_ids_are_stable_and_change_with_the_text() -> None:
    seed = _seed()
    first = [c.chunk_id for c in chunk_document(seed, 900, 200)]
    again = [c.chunk_id for c in chunk_document(seed, 900, 200)]
    assert first == again
    assert len(set(first)) == len(first)
    assert all(chunk_id.startswith(seed.doc_id + "#") for chunk_id in first)
    edited = Document(seed.doc_id, seed.text.replace("Istanbul", "Geneva"), seed.title, seed.source)
    changed = [c.chunk_id for c in chunk_document(edited, 900, 200)]
    assert changed != first
    assert changed[0] == first[0]  # the first chunk does not mention Istanbul


def test_a_run_on_sentence_is_cut_to_fit_the_chunk_size() -> None:
    text = "word " * 600  # 3000 characters with no full stop
    document = Document("runon", text, "Run-on", "runon.txt")
    chunks = chunk_document(document, chunk_size=500, chunk_overlap=0)
    assert all(len(c.text) <= 500 for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == text.replace(" ", "")
