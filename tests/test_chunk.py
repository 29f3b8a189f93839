from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

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
    # Stable means in another process too (where Python's str hashes differ), not just computed twice here.
    again = _chunk_ids_in_another_process(seed, hash_seed="12345")
    assert first == again
    assert len(set(first)) == len(first)
    assert all(chunk_id.startswith(seed.doc_id + "#") for chunk_id in first)
    edited = Document(seed.doc_id, seed.text.replace("Istanbul", "Geneva"), seed.title, seed.source)
    changed = [c.chunk_id for c in chunk_document(edited, 900, 200)]
    assert changed != first
    assert changed[0] == first[0]  # the first chunk does not mention Istanbul


def _chunk_ids_in_another_process(document: Document, hash_seed: str) -> list[str]:
    code = (
        "import json, sys\n"
        "from assistant.ingest.chunk import chunk_document\n"
        "from assistant.types import Document\n"
        "doc = Document(*json.load(sys.stdin))\n"
        "print(json.dumps([c.chunk_id for c in chunk_document(doc, 900, 200)]))\n"
    )
    fields = [document.doc_id, document.text, document.title, document.source]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(fields), capture_output=True, text=True, env=env, check=True
    )
    return list(json.loads(done.stdout))


def test_a_run_on_sentence_is_cut_to_fit_the_chunk_size() -> None:
    text = "word " * 600  # 3000 characters with no full stop
    document = Document("runon", text, "Run-on", "runon.txt")
    chunks = chunk_document(document, chunk_size=500, chunk_overlap=0)
    assert all(len(c.text) <= 500 for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == text.replace(" ", "")


# Documents built from lines of words, so that the test knows where every word is: the words are the content.
# A line may open with a mark that is markup, not content (a bullet, a heading, a quote, a list number).
_WORDS = st.sampled_from(
    "Kyiv Moscow talks ceasefire U.S. Gen. Zaluzhnyi said the drone 2025 Mr. 5 p.m. e.g. Київ «мир» über".split()
    + ["a", "I", "strike", "officials", "“quoted”", "(aside)", "Dr.", "No.", "war", "x"]
)
_ENDS = st.sampled_from(["", "", ".", ".", "!", "?", "…", ":", ";", '."', ".)"])
_MARKS = st.sampled_from(["", "", "", "- ", "* ", "• ", "– ", "# ", "## ", "> ", "1. ", "12) "])
_GAPS = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", " \n"])


@st.composite
def _documents(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]]]:
    """A document's text and the [start, end) of every word in it."""
    text, words = "", []
    for _ in range(draw(st.integers(1, 25))):  # lines
        text += draw(st.sampled_from(["", " ", "  "])) + draw(_MARKS)
        for position in range(draw(st.integers(1, 30))):
            if position:
                text += draw(_GAPS)
            word = draw(_WORDS) + draw(_ENDS)
            words.append((len(text), len(text) + len(word)))
            text += word
        text += draw(st.sampled_from(["\n", "\n", "\n\n", " \n\n"]))
    return text, words


def _opens_a_sentence(text: str, start: int) -> bool:
    """Whether a word opens its line (after any mark) or follows the end of a sentence."""
    line_start = text.rfind("\n", 0, start) + 1
    before = _BULLET_MARK.sub("", text[line_start:start]).rstrip()
    return not before or before[-1] in ".!?…\"')]"


def _is_markup_or_noise(text: str, start: int, end: int) -> bool:
    """A list number where a sentence would open ("5." before "Kyiv ..."), or a sentence of one character."""
    word = text[start:end]
    alone = _opens_a_sentence(text, start) and (end == len(text) or text[end].isspace())
    return alone and (len(word) == 1 or re.fullmatch(r"\d{1,3}[.)]", word) is not None)


_BULLET_MARK = re.compile(r"^\s*(?:[-*•–]\s+|#{1,6}\s+|>\s*|\d{1,3}[.)]\s+)")


@settings(max_examples=300, deadline=None)
@given(_documents(), st.integers(200, 1200), st.integers(0, 400))
def test_chunks_hold_every_word_at_valid_offsets(
    document: tuple[str, list[tuple[int, int]]], size: int, overlap: int
) -> None:
    """Whatever the text: offsets are valid, each chunk is the document's text at them and fits the size,
    chunks move forward, and every word lies inside some chunk.

    What may fall outside every chunk is markup and noise, which the sentence splitter drops on purpose:
    white space, the mark a line opens with (a bullet, a heading, a quote mark), a list number where a
    sentence opens ("5."), and a sentence of a single character (a page number or a stray letter).
    """
    text, words = document
    overlap = min(overlap, size - 1)
    chunks = chunk_document(Document("d", text, "T", "d.txt"), size, overlap)
    for ordinal, chunk in enumerate(chunks):
        assert chunk.ordinal == ordinal and 0 <= chunk.start < chunk.end <= len(text)
        assert chunk.text == text[chunk.start : chunk.end] and len(chunk.text) <= size
        assert (chunk.start, chunk.end) == (chunk.sentences[0].start, chunk.sentences[-1].end)
        spans = [(s.start, s.end) for s in chunk.sentences]
        assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:], strict=False)), "sentences in order, apart"
    assert all(a.start < b.start for a, b in zip(chunks, chunks[1:], strict=False)), "each chunk moves on"
    assert all(a.end < b.end for a, b in zip(chunks, chunks[1:], strict=False)), "each chunk holds something new"
    covered = [False] * len(text)
    for chunk in chunks:
        covered[chunk.start : chunk.end] = [True] * (chunk.end - chunk.start)
    lost = [
        text[start:end]
        for start, end in words
        if not all(covered[start:end]) and not _is_markup_or_noise(text, start, end)
    ]
    assert lost == [], f"words in no chunk: {lost}"


def test_no_chunk_lies_inside_the_chunk_before_it() -> None:
    """A chunk that holds nothing new repeats a passage in the index. It happened when the overlap carried a
    sentence over and the next sentence was too long to join it: the next chunk was that sentence alone."""
    text = "Kyiv opened talks. Moscow sent envoys. " + "The long sentence goes on " * 17 + "to its end."
    chunks = chunk_document(Document("d", text, "T", "d.txt"), chunk_size=460, chunk_overlap=100)
    assert all(b.end > a.end for a, b in zip(chunks, chunks[1:], strict=False))
