"""The typed records that pass between stages: Document -> Chunk -> ScoredChunk -> Answer."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from assistant.errors import UsageError, echoed


@dataclass(frozen=True)
class TimeFrame:
    """An inclusive range of dates a question asks about, and the words that said so."""

    start: dt.date
    end: dt.date
    phrase: str

    def contains(self, day: dt.date) -> bool:
        return self.start <= day <= self.end

    def to_json(self) -> dict[str, str]:
        """{"phrase": "this week", "start": "2025-06-24", "end": "2025-07-01"}"""
        return {"phrase": self.phrase, "start": self.start.isoformat(), "end": self.end.isoformat()}

    def described(self) -> str:
        """How the question's words were read, for a reader: '"this week" was read as 2025-06-24 to 2025-07-01'."""
        if self.start == dt.date.min:
            return f'"{self.phrase}" was read as up to {self.end.isoformat()}'
        return f'"{self.phrase}" was read as {self.start.isoformat()} to {self.end.isoformat()}'


@dataclass(frozen=True)
class LoadWarning:
    """A document that was loaded without something its file states (a date it could not read), and why."""

    source: str  # the file, with the line for a JSONL record (news.jsonl:3)
    reason: str  # completes "the file ...": "is indexed without a date: ..."


@dataclass(frozen=True)
class Document:
    """One document of the corpus, as loaded from its file."""

    doc_id: str  # path relative to the corpus folder, without extension
    text: str
    title: str
    source: str  # the file's path relative to the corpus folder
    date: str | None = None  # ISO date, YYYY-MM-DD, when known
    tags: tuple[str, ...] = ()
    url: str | None = None  # where the document came from, when its metadata says
    voice: str | None = None  # whose position it states ("Russia: government"), when its metadata says
    publisher: str | None = None  # who published it
    license: str | None = None  # the licence it is published under ("CC BY 4.0")
    # What of its metadata could not be read (a date), for the ingest report; not part of the document.
    warnings: tuple[LoadWarning, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class LoadFailure:
    """A corpus file that could not be read, and why."""

    source: str
    reason: str


@dataclass(frozen=True)
class Span:
    """A character range [start, end) of a document's text."""

    start: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences of one document, with its offsets into the document text."""

    chunk_id: str
    doc_id: str
    ordinal: int
    text: str
    start: int
    end: int
    sentences: tuple[Span, ...]  # document offsets of the sentences this chunk holds


@dataclass(frozen=True)
class ChunkInfo:
    """A chunk as the index knows it: its text, its offsets and its document's metadata."""

    chunk_id: str
    doc_id: str
    text: str
    start: int
    end: int
    title: str
    source: str
    date: str | None = None
    tags: tuple[str, ...] = ()
    url: str | None = None
    voice: str | None = None
    publisher: str | None = None
    license: str | None = None

    def metadata(self) -> dict[str, Any]:
        """The chunk's metadata as plain JSON values."""
        record = asdict(self)
        record.pop("text")
        record["tags"] = list(self.tags)
        return record


@dataclass(frozen=True)
class ScoredChunk:
    """A retrieved chunk with its fused score and the ranks that produced it."""

    chunk: ChunkInfo
    score: float
    rank: int  # 1-based position in the result list
    dense_rank: int | None = None
    lexical_rank: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The chunk as `assistant retrieve --json` prints it: rank, score, text and metadata."""
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "dense_rank": self.dense_rank,
            "lexical_rank": self.lexical_rank,
            "text": self.chunk.text,
            **self.chunk.metadata(),
        }


@dataclass(frozen=True)
class Citation:
    """One cited passage: the verbatim quote an answer sentence relies on."""

    n: int
    doc_id: str
    title: str
    source: str
    date: str | None
    chunk_id: str
    quote: str
    start: int  # offsets of the quote in the document text
    end: int
    url: str | None = None
    voice: str | None = None  # whose claim the quote is: its speaker's voice when known, else its document's
    publisher: str | None = None
    speaker: str | None = None  # who the quote reports as saying it ("Peskov"), when it names one
    license: str | None = None

    @classmethod
    def from_chunk(cls, n: int, chunk: ChunkInfo, quote: str, start: int, end: int) -> Citation:
        """Citation n: a quote from a chunk, at [start, end) of the document text, with the chunk's provenance."""
        return cls(
            n,
            chunk.doc_id,
            chunk.title,
            chunk.source,
            chunk.date,
            chunk.chunk_id,
            quote,
            start,
            end,
            chunk.url,
            voice=chunk.voice,
            publisher=chunk.publisher,
            license=chunk.license,
        )

    def attribution(self) -> str | None:
        """Whose claim the quote is, for a reader: 'Dmitry Peskov (Russia: government)', the voice alone, or None."""
        if self.speaker and self.voice:
            return f"{self.speaker} ({self.voice})"
        return self.speaker or self.voice

    def to_json(self) -> dict[str, Any]:
        """The citation as in `ask --json`: voice, publisher and speaker are null when unknown."""
        record = asdict(self)
        for optional in ("url", "license"):
            if record[optional] is None:
                record.pop(optional)
        return record


@dataclass(frozen=True)
class Answer:
    """An answer with its [n] markers resolved to citations, or an abstention."""

    question: str
    text: str
    citations: tuple[Citation, ...]
    abstained: bool
    retrieved: tuple[ScoredChunk, ...] = ()
    timings_ms: dict[str, float] = field(default_factory=dict)
    # The extractive answerer's abstention model: its probability that the evidence answers the question (0 when
    # no sentence was found to judge), and the signals it rests on; None and {} from an answerer without one.
    confidence: float | None = None
    signals: dict[str, float] = field(default_factory=dict)
    # A chat model's answer: the share of its sentences shown, those whose citation the passage supports (0 when
    # it abstains); None from an answerer that quotes.
    supported_share: float | None = None
    # After an abstention: the sentences that came closest to answering, for a reader to judge; not an answer.
    nearest: tuple[Citation, ...] = ()
    time_frame: TimeFrame | None = None  # the time the question names ("this week"), as the dates it was read as

    def to_json(self) -> dict[str, Any]:
        """The object `assistant ask --json` prints."""
        return {
            "question": self.question,
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [citation.to_json() for citation in self.citations],
            "nearest": [citation.to_json() for citation in self.nearest],
            "time_frame": None if self.time_frame is None else self.time_frame.to_json(),
            "timings_ms": {name: round(ms, 1) for name, ms in self.timings_ms.items()},
        }


@dataclass(frozen=True)
class Filters:
    """Restrict retrieval to some documents, a date range (inclusive) or a tag."""

    doc_ids: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    tags: tuple[str, ...] = ()
    voices: tuple[str, ...] = ()  # a voice ("Russia: government") or a side ("Russia"): see voice_keys

    def __bool__(self) -> bool:
        return bool(self.doc_ids or self.date_from or self.date_to or self.tags or self.voices)


def voice_keys(voice: str | None) -> tuple[str, ...]:
    """What a voice filter matches a document's voice on: the voice and its side (before ':'), in lower case.

    'Russia: government' -> ('russia: government', 'russia'), so `--voice Russia` keeps every Russian voice.
    """
    if not voice or not voice.strip():
        return ()
    full = " ".join(voice.lower().split())
    side = full.partition(":")[0].strip()
    return (full, side) if side != full else (full,)


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def check_date(value: str, label: str = "date") -> str:
    """value when it is a calendar date written YYYY-MM-DD; UsageError otherwise.

    Only that form: documents' dates are compared as YYYY-MM-DD text, so another form that Python's
    fromisoformat also reads (20250601, 2025-W27-1) would filter wrongly.
    """
    shown = echoed(value)
    if not _ISO_DATE.fullmatch(value):
        raise UsageError(f"The {label} '{shown}' is not a date; write it as YYYY-MM-DD.")
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"The {label} '{shown}' is not a day of the calendar; write it as YYYY-MM-DD.") from None
    return value


def make_filters(
    doc_ids: Iterable[str] | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    tags: Iterable[str] | None = None,
    voices: Iterable[str] | None = None,
) -> Filters:
    """Filters from user input; dates must be YYYY-MM-DD (UsageError otherwise)."""
    for label, value in (("start date", date_from), ("end date", date_to)):
        if value:
            check_date(value, label)
    if date_from and date_to and date_from > date_to:
        raise UsageError(f"The start date {date_from} is after the end date {date_to}.")
    return Filters(
        tuple(d for d in doc_ids or () if d),
        date_from or None,
        date_to or None,
        tuple(t for t in tags or () if t),
        tuple(v.strip() for v in voices or () if v and v.strip()),
    )


def with_voices(filters: Filters | None, voice: str | Iterable[str] | None) -> Filters | None:
    """filters, further kept to documents of a voice or side (one, or any of several); unchanged when None."""
    voices = (voice,) if isinstance(voice, str) else tuple(voice or ())
    voices = tuple(v.strip() for v in voices if v and v.strip())
    if not voices:
        return filters
    base = filters or Filters()
    return Filters(base.doc_ids, base.date_from, base.date_to, base.tags, tuple(dict.fromkeys(base.voices + voices)))


@dataclass
class IngestReport:
    """What an ingest run did, in documents and chunks."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    skipped: list[LoadFailure] = field(default_factory=list)
    warnings: list[LoadWarning] = field(default_factory=list)  # documents indexed without something they state
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_synced: int = 0  # written to Chroma; more than chunks_added when a new or wiped store was refilled
    chunks_total: int = 0
    documents_total: int = 0
    seconds: float = 0.0
    collection: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "documents": {
                "added": len(self.added),
                "updated": len(self.updated),
                "unchanged": self.unchanged,
                "removed": len(self.removed),
                "skipped": len(self.skipped),
                "total": self.documents_total,
            },
            "chunks": {
                "added": self.chunks_added,
                "removed": self.chunks_removed,
                "total": self.chunks_total,
                "synced_to_chroma": self.chunks_synced,
            },
            "skipped": [{"source": f.source, "reason": f.reason} for f in self.skipped],
            "warnings": [{"source": w.source, "reason": w.reason} for w in self.warnings],
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class IndexStatus:
    """What the index that questions are answered from holds."""

    collection: str  # named after the corpus and the settings that shape the vectors
    version: str  # names the index's contents: a hash of every document's hash
    documents: int
    chunks: int
    first_date: str | None  # the earliest and latest document dates, when any document is dated
    last_date: str | None
    vector_store: Literal["embedded", "chroma-server"]

    def to_json(self) -> dict[str, Any]:
        """The status as plain JSON values."""
        return asdict(self)
