"""A chat model's reply -> the Answer it makes once every [n] is checked against passage n.

The check runs sentence by sentence as the reply streams in: a sentence is checked as soon as the next
one has begun (so a marker after its full stop, "Istanbul. [1]", still counts as its own), and only a
sentence with a citation that stands is passed on. A citation stands when a sentence (or two adjacent
sentences) of the cited passage supports the claim by the rule of answer/support.py, and the passage
supports whom the claim names as speaking, if anyone, by the rule of answer/attribution.py ("Zelensky
said ..." of Kuleba's words does not stand); that passage text becomes the citation's verbatim quote.
Citations are renumbered 1..N in order of first use, one per distinct quote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from assistant.answer.attribution import attribution_stands
from assistant.answer.base import ABSTENTION_REPLY
from assistant.answer.speakers import Speaker, SpeakerTable, speaker_table
from assistant.answer.support import coverage, supports
from assistant.index.snapshot import Snapshot
from assistant.ingest.chunk import split_sentences
from assistant.types import Answer, Citation, ScoredChunk

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_LEADING_MARKERS = re.compile(r"(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+")  # .match() at a sentence's start
# Markers, or the start of one still streaming in ("[1", "[1, 3"), before a sentence's first word.
_NOT_YET_WORDS = re.compile(r"^(?:\s*\[[\d,;\s]*\]?)*\s*$")
_GLUED_MARKER = re.compile(r"([.!?])(\[\d)")  # "Istanbul.[1] Next" -> "Istanbul. [1] Next"
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([.,;:!?])")
_THINKING = re.compile(r"<think>.*?</think>", re.S)  # reasoning models (qwen3, deepseek-r1) think aloud first


@dataclass(frozen=True)
class _Quote:
    passage: ScoredChunk
    start: int  # offsets in the document text
    end: int
    text: str


class CitationCheck:
    """Checks a reply as it streams in: `feed` pieces, then `finish`; each returns the sentences that stand,
    as they are to be shown (the claim and its renumbered markers), and `answer` makes the Answer."""

    def __init__(
        self, passages: Sequence[ScoredChunk], snapshot: Snapshot, speakers: SpeakerTable | None = None
    ) -> None:
        """speakers: the table that tells who a sentence names as speaking (default: the bundled one)."""
        self.passages = list(passages)
        self.snapshot = snapshot
        self.speakers = speakers or speaker_table()
        self.reply = ""  # all the model said
        self.kept: list[str] = []  # the sentences that stand, as shown
        self._pending = ""  # said but not yet checked: the sentence under way, a thought not yet closed
        self._claims = 0
        self._citations: dict[tuple[str, int, int], Citation] = {}

    def feed(self, piece: str) -> list[str]:
        """The sentences that stand among those this piece of the reply finished."""
        self.reply += piece
        self._pending += piece
        return self._check(final=False)

    def finish(self) -> list[str]:
        """The sentences that stand among those still pending when the reply is complete."""
        return self._check(final=True)

    def answer(self, question: str) -> Answer:
        """The checked Answer. A reply with no sentence that stands, or one that holds the abstention
        phrase (whatever else it says), is an abstention; supported_share is the share of sentences kept."""
        if not self.kept or _normalised(ABSTENTION_REPLY) in _normalised(_THINKING.sub("", self.reply)):
            return Answer(question, ABSTENTION_REPLY, (), True, tuple(self.passages), supported_share=0.0)
        citations = tuple(self._citations.values())
        share = len(self.kept) / self._claims
        return Answer(question, " ".join(self.kept), citations, False, tuple(self.passages), supported_share=share)

    def _check(self, final: bool) -> list[str]:
        text = _GLUED_MARKER.sub(r"\1 \2", _THINKING.sub("", self._pending))
        thinking = -1 if final else text.find("<think>")  # an unclosed thought waits for its end
        visible = text if thinking < 0 else text[:thinking]
        units = _units(visible)
        if not final and units:
            units.pop()  # the sentence under way may go on
            if units and _NOT_YET_WORDS.match(visible[units[-1][1] :]):
                units.pop()  # the next one has not begun with words: its first marker may be this one's
        shown: list[str] = []
        for start, end in units:
            sentence = self._keep(visible[start:end])
            if sentence:
                shown.append(" " + sentence if len(self.kept) > 1 else sentence)  # as " ".join(kept) spaces them
        self._pending = text[units[-1][1] :] if units else text
        return shown

    def _keep(self, unit: str) -> str | None:
        """Check one sentence; the sentence as shown when a citation of it stands, else None."""
        numbers = [int(n) for group in _MARKER.findall(unit) for n in re.split(r"\s*[,;]\s*", group)]
        claim = _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(_MARKER.sub(" ", unit).split()))
        if not claim.strip(" .,;:!?"):
            return None
        self._claims += 1
        named = self.speakers.speaker_of(claim)
        markers: list[int] = []
        for number in dict.fromkeys(numbers):
            quote = (
                _support(claim, self.passages[number - 1], self.snapshot) if 0 < number <= len(self.passages) else None
            )
            if quote is None or (named is not None and not self._attributes(named, quote)):
                continue
            chunk = quote.passage.chunk
            key = (chunk.doc_id, quote.start, quote.end)
            if key not in self._citations:
                n = len(self._citations) + 1
                self._citations[key] = Citation.from_chunk(n, chunk, quote.text, quote.start, quote.end)
            if self._citations[key].n not in markers:
                markers.append(self._citations[key].n)
        if not markers:
            return None
        self.kept.append(claim + " " + "".join(f"[{n}]" for n in markers))
        return self.kept[-1]

    def _attributes(self, named: Speaker, quote: _Quote) -> bool:
        """Whether the quote's passage supports that `named` said it (answer/attribution.py)."""
        chunk = quote.passage.chunk
        passage = f"{chunk.title} {chunk.publisher or ''} {chunk.text}"
        return attribution_stands(named, quote.text, passage, chunk.voice, self.speakers)


def check_citations(
    question: str,
    reply: str,
    passages: Sequence[ScoredChunk],
    snapshot: Snapshot,
    speakers: SpeakerTable | None = None,
) -> Answer:
    """The Answer a whole reply makes once every [n] is checked against passage n (see CitationCheck)."""
    check = CitationCheck(passages, snapshot, speakers)
    check.feed(reply)
    check.finish()
    return check.answer(question)


def _units(text: str) -> list[tuple[int, int]]:
    """The reply's sentences as (start, end) offsets; a marker after a full stop, which the sentence splitter
    puts at the start of the next sentence ("Istanbul. [1] Both ..."), belongs to the one before it."""
    units: list[tuple[int, int]] = []
    for span in split_sentences(text):
        start = span.start
        leading = _LEADING_MARKERS.match(text, span.start, span.end)
        if leading and units:
            units[-1] = (units[-1][0], leading.end())
            start = leading.end()
        if text[start : span.end].strip():
            units.append((start, span.end))
    return units


def _support(claim: str, passage: ScoredChunk, snapshot: Snapshot) -> _Quote | None:
    """The passage text that best supports a claim, or None when none does (answer/support.py)."""
    row = snapshot.row_of.get(passage.chunk.chunk_id)
    if row is None:
        return None
    chunk = passage.chunk
    context = f"{chunk.title} {chunk.date or ''} {chunk.text}"
    idf = snapshot.bm25.term_idf
    first, stop = (int(x) for x in snapshot.chunk_sentences[row])
    # A single sentence is the tighter quote; two adjacent ones serve when the claim joins them.
    for span in (1, 2):
        best: tuple[float, int, int] | None = None
        for low in range(first, stop - span + 1):
            start, end = int(snapshot.sentence_spans[low][0]), int(snapshot.sentence_spans[low + span - 1][1])
            score = coverage(claim, chunk.text[start - chunk.start : end - chunk.start], idf)
            if best is None or score > best[0]:
                best = (score, start, end)
        if best is not None:
            _, start, end = best
            quote = chunk.text[start - chunk.start : end - chunk.start]
            if supports(claim, quote, context, idf):
                return _Quote(passage, start, end, quote)
    return None


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())
