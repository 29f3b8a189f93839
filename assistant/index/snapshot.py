"""The query-time view of an index: built at ingest (or from a Chroma server), so answering only looks things up.

A snapshot holds every chunk's text and metadata, the BM25 matrix over chunks, and the sentence offsets
and vectors the answerer picks from. Everything is a flat file read in place (memory-mapped): opening one
costs the same at a thousand chunks as at a million, and a process pages in only what its questions touch.
Filters are computed on columns (a document and a date per chunk), never chunk by chunk in Python.

Each build goes to a new folder, switched to by rewriting one small pointer file, so a running server
never reads half a snapshot. A snapshot's `version` names its contents: a hash of every document's hash,
the same on every machine that holds the same index.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import numpy as np

from assistant.errors import IndexMissingError
from assistant.index.chroma import date_int
from assistant.index.lexical import BM25Index
from assistant.index.packed import PackedStrings
from assistant.types import ChunkInfo, Filters, voice_keys

FORMAT = 3  # bump when the files change: older snapshots are then rebuilt, not misread (3: SHA-256 of each file)
POINTER = "current"
NO_INDEX = "No index for this corpus yet; run `assistant ingest` first."


def passage_text(info: ChunkInfo) -> str:
    """What is embedded and indexed for a chunk: its document's title, then its text."""
    return info.text if info.text.startswith(info.title) else f"{info.title}\n{info.text}"


def index_version(doc_hashes: dict[str, str]) -> str:
    """The version of an index holding documents with these hashes (doc_id -> doc_hash)."""
    payload = json.dumps([FORMAT, sorted(doc_hashes.items())]).encode()
    return hashlib.sha256(payload).hexdigest()[:16]


@dataclass(frozen=True)
class DocumentInfo:
    """A document's metadata as the snapshot keeps it."""

    doc_id: str
    title: str
    source: str
    date: str | None
    tags: tuple[str, ...]
    url: str | None
    doc_hash: str
    voice: str | None = None
    publisher: str | None = None
    license: str | None = None


class ChunkRows(Sequence[ChunkInfo]):
    """The snapshot's chunks by row; each ChunkInfo is made when asked for, its text read from the file."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def __len__(self) -> int:
        return len(self._snapshot.chunk_doc)

    @overload
    def __getitem__(self, row: int) -> ChunkInfo: ...
    @overload
    def __getitem__(self, row: slice) -> list[ChunkInfo]: ...
    def __getitem__(self, row: int | slice) -> ChunkInfo | list[ChunkInfo]:
        if isinstance(row, slice):
            return [self[r] for r in range(*row.indices(len(self)))]
        s = self._snapshot
        doc = s.documents[int(s.chunk_doc[row])]
        start, end = (int(x) for x in s.chunk_spans[row])
        return ChunkInfo(
            s.chunk_ids[row],
            doc.doc_id,
            s.texts[row],
            start,
            end,
            doc.title,
            doc.source,
            doc.date,
            doc.tags,
            doc.url,
            doc.voice,
            doc.publisher,
            doc.license,
        )


class RowIndex:
    """chunk_id -> row, by a sorted table of 64-bit hashes of the ids (16 bytes a chunk, read in place)."""

    def __init__(self, hashes: np.ndarray, rows: np.ndarray, chunk_ids: PackedStrings) -> None:
        self._hashes, self._rows, self._ids = hashes, rows, chunk_ids

    def get(self, chunk_id: str, default: int | None = None) -> int | None:
        row = self.rows([chunk_id])[0]
        return default if row is None else row

    def rows(self, chunk_ids: Sequence[str]) -> list[int | None]:
        """The row of each chunk id (None when unknown), looked up together."""
        if not len(self._hashes):
            return [None] * len(chunk_ids)
        keys = np.fromiter((id_hash(chunk_id) for chunk_id in chunk_ids), dtype=np.uint64, count=len(chunk_ids))
        at = np.minimum(np.searchsorted(self._hashes, keys), len(self._hashes) - 1)
        hit = np.asarray(self._hashes[at]) == keys
        found: list[int | None] = []
        for chunk_id, is_hit, row, place in zip(
            chunk_ids, hit.tolist(), self._rows[at].tolist(), at.tolist(), strict=True
        ):
            if is_hit and self._ids.raw(row) != chunk_id.encode():
                row = self._colliding(chunk_id, place)
            found.append(row if is_hit else None)
        return found

    def _colliding(self, chunk_id: str, place: int) -> int | None:
        """Two ids with one hash (about once in 10^13 pairs): look at each."""
        while place < len(self._hashes) and self._hashes[place] == id_hash(chunk_id):
            if self._ids[int(self._rows[place])] == chunk_id:
                return int(self._rows[place])
            place += 1
        return None

    def __getitem__(self, chunk_id: str) -> int:
        row = self.get(chunk_id)
        if row is None:
            raise KeyError(chunk_id)
        return row

    def __contains__(self, chunk_id: object) -> bool:
        return isinstance(chunk_id, str) and self.get(chunk_id) is not None


def id_hash(chunk_id: str) -> int:
    """A 64-bit hash of a chunk id, the same in every process."""
    return int.from_bytes(hashlib.blake2b(chunk_id.encode(), digest_size=8).digest(), "little")


class Snapshot:
    """One snapshot folder, opened: every array is memory-mapped, chunk texts are read when asked for."""

    def __init__(self, folder: Path, verify: bool = True) -> None:
        """verify: check every file against its SHA-256 (skipped only by the build that just wrote them)."""
        self.folder = folder
        manifest = _manifest(folder, verify)
        self.name = folder.name  # what identifies this build: a rebuild of the same version gets a new folder
        self.version: str = manifest["version"]
        records = json.loads((folder / "documents.json").read_text(encoding="utf-8"))
        self.documents = [DocumentInfo(r[0], r[1], r[2], r[3], tuple(r[4]), r[5], r[6], *r[7:10]) for r in records]
        self.doc_index = {doc.doc_id: i for i, doc in enumerate(self.documents)}
        arrays = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in _ARRAYS}
        self.chunk_doc: np.ndarray = arrays["chunk_doc"]  # (chunks,): the document (index) of each chunk
        self.chunk_spans: np.ndarray = arrays["chunk_spans"]  # (chunks, 2): start and end in the document text
        self.doc_chunks: np.ndarray = arrays["doc_chunks"]  # (documents + 1,): first chunk row of each document
        self.doc_sentences: np.ndarray = arrays["doc_sentences"]  # (documents + 1,): first sentence row of each
        self.doc_dates: np.ndarray = arrays["doc_dates"]  # (documents,): YYYYMMDD, 0 when undated
        self.chunk_sentences: np.ndarray = arrays["chunk_sentences"]  # (chunks, 2): first and past-last sentence
        self.sentence_spans: np.ndarray = arrays["sentence_spans"]  # (sentences, 2): start and end in the document
        shape = (len(self.sentence_spans), int(manifest["dim"]))
        # float16 unit vectors; a plain memmap (not .npy) because they are written as they come, count unknown
        self.sentence_vectors: np.ndarray = (
            np.memmap(folder / "sentence_vectors.f16", dtype=np.float16, mode="r", shape=shape)
            if shape[0] and shape[1]
            else np.zeros(shape, dtype=np.float16)
        )
        self.chunk_ids = PackedStrings.open(folder, "chunk_ids")
        self.texts = PackedStrings.open(folder, "texts")
        self.row_of = RowIndex(arrays["id_hashes"], arrays["id_rows"], self.chunk_ids)
        self.bm25 = BM25Index.open(folder)
        self.chunks = ChunkRows(self)
        self._docs_by_tag: dict[str, list[int]] = {}
        self._docs_by_voice: dict[str, list[int]] = {}  # voice_keys -> documents
        for i, doc in enumerate(self.documents):
            for tag in doc.tags:
                self._docs_by_tag.setdefault(tag, []).append(i)
            for key in voice_keys(doc.voice):
                self._docs_by_voice.setdefault(key, []).append(i)

    def sentence_text(self, row: int, sentence: int) -> str:
        """The text of a sentence of the chunk at a row."""
        start, end = (int(x) for x in self.sentence_spans[sentence])
        chunk_start = int(self.chunk_spans[row][0])
        return self.texts[row][start - chunk_start : end - chunk_start]

    def documents_matching(self, filters: Filters | None, as_of: dt.date | None = None) -> np.ndarray | None:
        """Which documents pass the filters and the as-of date, as a boolean array (computed on columns, not
        document by document); None when all do. Undated documents pass an as-of date, never a date filter."""
        if as_of is not None and self._latest <= date_int(as_of.isoformat()):
            as_of = None  # nothing is dated after it: no cutoff to apply
        if not filters and as_of is None:
            return None
        keep = np.ones(len(self.documents), dtype=bool)
        if as_of is not None:
            dates = np.asarray(self.doc_dates)
            keep &= (dates == 0) | (dates <= date_int(as_of.isoformat()))
        if not filters:
            return keep
        if filters.doc_ids:
            keep &= np.isin(np.arange(len(keep)), [self.doc_index[d] for d in filters.doc_ids if d in self.doc_index])
        if filters.date_from or filters.date_to:
            dates = np.asarray(self.doc_dates)
            keep &= dates > 0  # undated documents never pass a date filter
            if filters.date_from:
                keep &= dates >= date_int(filters.date_from)
            if filters.date_to:
                keep &= dates <= date_int(filters.date_to)
        if filters.tags:
            keep &= np.isin(
                np.arange(len(keep)), [d for tag in set(filters.tags) for d in self._docs_by_tag.get(tag, ())]
            )
        if filters.voices:
            wanted = {key for voice in filters.voices for key in voice_keys(voice)[:1]}
            keep &= np.isin(np.arange(len(keep)), [d for key in wanted for d in self._docs_by_voice.get(key, ())])
        return keep

    def latest_date(self, as_of: dt.date | None = None) -> dt.date | None:
        """The latest date a document carries, at or before as_of when given; None when none is dated."""
        dates = np.asarray(self.doc_dates)
        if as_of is not None:
            dates = dates[dates <= date_int(as_of.isoformat())]
        return _day(int(np.max(dates, initial=0)))

    def chunk_date(self, row: int) -> dt.date | None:
        """The date of the document of the chunk at a row; None when it is undated."""
        return _day(int(self.doc_dates[int(self.chunk_doc[row])]))

    @functools.cached_property
    def _latest(self) -> int:
        return int(np.max(self.doc_dates, initial=0))

    def first_sentence_of(self, doc_id: str) -> int:
        """The sentence row where a document's text begins."""
        return int(self.doc_sentences[self.doc_index[doc_id]])

    def chunks_in(self, documents: np.ndarray) -> int:
        """How many chunks the documents of a boolean array hold."""
        return int(np.diff(self.doc_chunks)[documents].sum())

    def rows_in(self, documents: np.ndarray) -> np.ndarray:
        """The rows of every chunk of the documents of a boolean array, in order."""
        return np.flatnonzero(np.repeat(documents, np.diff(self.doc_chunks)))

    def in_documents(self, documents: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Which of these chunk rows belong to the documents of a boolean array."""
        return np.asarray(documents[np.asarray(self.chunk_doc[np.asarray(rows, dtype=np.int64)])], dtype=bool)

    def dates(self) -> tuple[str, str] | None:
        """The first and last date of the dated documents, or None when none is dated."""
        dated = sorted(doc.date for doc in self.documents if doc.date)
        return (dated[0], dated[-1]) if dated else None


_ARRAYS = (
    "chunk_doc",
    "chunk_spans",
    "doc_chunks",
    "doc_sentences",
    "doc_dates",
    "chunk_sentences",
    "sentence_spans",
    "id_hashes",
    "id_rows",
)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in blocks."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _manifest(folder: Path, verify: bool = True) -> dict[str, Any]:
    """The folder's manifest, after checking that every file it lists is there at its full size and, with verify,
    has the SHA-256 it lists.

    A byte changed in place keeps the size, and a changed BM25 index array is read as an offset out of bounds
    (a crash, not an error); a changed vector or text gives wrong answers. Hashing costs about 0.2 s for a
    corpus of a thousand articles (35 MB of files at 160 MB/s on a busy 2-core machine), once a process."""
    try:
        manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DamagedSnapshotError(f"{folder} has no readable manifest ({type(exc).__name__})") from exc
    if manifest.get("format") != FORMAT:
        raise DamagedSnapshotError(f"{folder} is in format {manifest.get('format')}, not {FORMAT}")
    for name, listed in manifest["files"].items():
        path = folder / name
        actual = path.stat().st_size if path.exists() else None
        if actual != listed["bytes"]:
            found = "missing" if actual is None else f"{actual} bytes instead of {listed['bytes']}"
            raise DamagedSnapshotError(f"{path} is {found}")
    if verify:
        for name, listed in manifest["files"].items():
            if file_sha256(folder / name) != listed["sha256"]:
                raise DamagedSnapshotError(f"{folder / name} does not match its checksum")
    return manifest


class DamagedSnapshotError(IndexMissingError):
    """A snapshot folder whose files are missing, truncated or of an older format."""


def read_pointer(root: Path) -> str | None:
    """The name of the current snapshot folder, or None when there is none."""
    try:
        name = (root / POINTER).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return name if name.startswith("snapshot-") else None


def open_snapshot(root: Path) -> Snapshot:
    """Open the current snapshot of an index folder; IndexMissingError when there is none or it is damaged."""
    for _ in range(2):  # the pointer may move on (and the old folder go) between reading it and opening
        name = read_pointer(root)
        if name is None:
            raise IndexMissingError(NO_INDEX)
        try:
            return Snapshot(root / name)
        except DamagedSnapshotError as exc:
            if read_pointer(root) != name:
                continue
            raise DamagedSnapshotError(
                f"The index in {root} is damaged ({exc}); run `assistant ingest` to rebuild it."
            ) from exc
    raise IndexMissingError(NO_INDEX)


def _day(value: int) -> dt.date | None:
    """20250701 -> 2025-07-01 (the inverse of chroma.date_int); 0 -> None."""
    return dt.date(value // 10000, value // 100 % 100, value % 100) if value else None


def current_version(root: Path) -> str | None:
    """The version of the current snapshot when it is intact, else None (ingest then rebuilds it)."""
    try:
        return open_snapshot(root).version
    except IndexMissingError:
        return None
