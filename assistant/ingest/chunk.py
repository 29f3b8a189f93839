"""Documents -> sentences -> Chunks: runs of whole sentences with offsets and stable ids."""

from __future__ import annotations

import hashlib
import re

from assistant.types import Chunk, Document, Span

# Words that end in a period without ending the sentence ("Gen. Zaluzhnyi", "U.S. forces").
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof gen lt col maj sgt capt cmdr adm gov sen rep pres st jr sr vs etc inc ltd co corp "
    "no nos fig approx dept est jan feb mar apr jun jul aug sep sept oct nov dec mt ft "
    "u.s u.k u.n e.g i.e a.m p.m u.s.a d.c".split()
)
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s+[\"'“‘(\[]?[A-Z0-9ÀÁÂÄÉÈÊÖÓÜĆČŠŽ])")
_LINE = re.compile(r"[^\n]+")
_BULLET = re.compile(r"\s*(?:[-*•–]\s+|#{1,6}\s+|>\s*|\d{1,3}[.)]\s+)")
_CLOSED_LINE = re.compile(r"[.!?:;\"'”’)\]]\s*$")


def split_sentences(text: str, max_chars: int = 10_000) -> list[Span]:
    """Sentence spans of a text: trimmed, bullets and heading marks left out, none longer than max_chars."""
    spans: list[Span] = []
    for start, end in _paragraph_lines(text):
        piece_start = start
        for match in _SENTENCE_END.finditer(text, start, end):
            if _is_abbreviation(text, start, match.start()):
                continue
            spans.extend(_trimmed(text, piece_start, match.end(), max_chars))
            piece_start = match.end()
        spans.extend(_trimmed(text, piece_start, end, max_chars))
    return spans


def _paragraph_lines(text: str) -> list[tuple[int, int]]:
    """Line ranges, joining a hard-wrapped line with the next when the sentence clearly goes on."""
    ranges: list[tuple[int, int]] = []
    for match in _LINE.finditer(text):
        start, end = match.span()
        if not text[start:end].strip():
            continue
        continues = (
            ranges
            and ranges[-1][1] == start - 1  # directly after the previous line, no blank line between
            and not _CLOSED_LINE.search(text, ranges[-1][0], ranges[-1][1])
            and text[start:end].lstrip()[:1].islower()
        )
        if continues:
            ranges[-1] = (ranges[-1][0], end)
        else:
            ranges.append((start, end))
    return ranges


def _is_abbreviation(text: str, line_start: int, period: int) -> bool:
    if text[period] != ".":
        return False
    word_start = period
    while word_start > line_start and not text[word_start - 1].isspace() and text[word_start - 1] not in "(\"“'":
        word_start -= 1
    word = text[word_start:period].lower()
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _trimmed(text: str, start: int, end: int, max_chars: int) -> list[Span]:
    while start < end and text[start].isspace():
        start += 1
    bullet = _BULLET.match(text, start, end)
    if bullet:
        start = bullet.end()
    while end > start and text[end - 1].isspace():
        end -= 1
    if end - start < 2 or not any(ch.isalnum() for ch in text[start:end]):
        return []
    spans = []
    while end - start > max_chars:  # a run-on "sentence" (a table, a list without stops): cut at a space
        cut = text.rfind(" ", start, start + max_chars)
        cut = cut if cut > start else start + max_chars
        spans.append(Span(start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    spans.append(Span(start, end))
    return spans


def chunk_document(
    document: Document, chunk_size: int, chunk_overlap: int, sentences: list[Span] | None = None
) -> list[Chunk]:
    """Pack whole sentences into chunks of at most chunk_size characters, overlapping by whole sentences.

    sentences: the document's `split_sentences(text, max_chars=chunk_size)`, when the caller has them."""
    if sentences is None:
        sentences = split_sentences(document.text, max_chars=chunk_size)
    chunks: list[Chunk] = []
    first = 0
    while first < len(sentences):
        last = first
        while last + 1 < len(sentences) and sentences[last + 1].end - sentences[first].start <= chunk_size:
            last += 1
        chunks.append(_chunk(document, len(chunks), sentences[first : last + 1]))
        if last + 1 == len(sentences):
            break
        # The next chunk repeats the trailing sentences that fit in the overlap, and always moves on: it keeps
        # only as many of them as leave room for the sentence after this chunk, so it never lies inside this one.
        next_first = last + 1
        while next_first - 1 > first and sentences[last].end - sentences[next_first - 1].start <= chunk_overlap:
            next_first -= 1
        while next_first <= last and sentences[last + 1].end - sentences[next_first].start > chunk_size:
            next_first += 1
        first = next_first
    return chunks


def sentences_and_chunks(document: Document, chunk_size: int, chunk_overlap: int) -> tuple[list[Span], list[Chunk]]:
    """A document's sentence spans and its chunks, as ingest indexes them."""
    spans = split_sentences(document.text, max_chars=chunk_size)
    return spans, chunk_document(document, chunk_size, chunk_overlap, spans)


def _chunk(document: Document, ordinal: int, sentences: list[Span]) -> Chunk:
    start, end = sentences[0].start, sentences[-1].end
    text = document.text[start:end]
    digest = hashlib.sha1(f"{start}:{end}:{text}".encode()).hexdigest()[:10]
    return Chunk(
        chunk_id=f"{document.doc_id}#{ordinal}:{digest}",
        doc_id=document.doc_id,
        ordinal=ordinal,
        text=text,
        start=start,
        end=end,
        sentences=tuple(sentences),
    )
