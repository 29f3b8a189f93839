"""The query-time view of an index, built once at ingest so that answering only looks things up.

A snapshot holds every chunk's text and metadata, the BM25 matrix over chunks, and the sentence
offsets and vectors the answerer picks from. It is written to a new folder per generation and
switched to by rewriting one small pointer file, so a running server never reads half a snapshot.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from assistant.errors import IndexMissingError
from assistant.index.catalog import Catalog
from assistant.index.lexical import BM25Index, tokenize
from assistant.types import ChunkInfo

_POINTER = "current"


def passage_text(info: ChunkInfo) -> str:
    """What is embedded and indexed for a chunk: its document's title, then its text."""
    return info.text if info.text.startswith(info.title) else f"{info.title}\n{info.text}"


@dataclass
class Snapshot:
    generation: int
    chunks: list[ChunkInfo]
    row_of: dict[str, int]  # chunk_id -> row
    bm25: BM25Index
    chunk_sentences: np.ndarray  # (chunks, 2): first and past-last sentence row of each chunk
    sentence_spans: np.ndarray  # (sentences, 2): start and end in the document text
    sentence_vectors: np.ndarray  # (sentences, dim), float16, unit length

    @functools.cached_property
    def chunk_dates(self) -> np.ndarray:
        """Each chunk's document date as the number YYYYMMDD, 0 when undated."""
        return np.fromiter(
            (int(c.date.replace("-", "")[:8]) if c.date else 0 for c in self.chunks), np.int64, len(self.chunks)
        )

    @functools.cached_property
    def chunk_days(self) -> np.ndarray:
        """Each chunk's document date as a proleptic Gregorian ordinal, 0 when undated."""
        return np.fromiter(
            (dt.date.fromisoformat(c.date[:10]).toordinal() if c.date else 0 for c in self.chunks),
            np.int64,
            len(self.chunks),
        )

    @functools.cached_property
    def chunk_doc_ids(self) -> np.ndarray:
        """Each chunk's document id."""
        return np.asarray([c.doc_id for c in self.chunks], dtype=object)

    @functools.cached_property
    def _tag_rows(self) -> dict[str, np.ndarray]:
        rows: dict[str, list[int]] = {}
        for row, chunk in enumerate(self.chunks):
            for tag in chunk.tags:
                rows.setdefault(tag, []).append(row)
        return {tag: np.asarray(found, dtype=np.int64) for tag, found in rows.items()}

    def chunks_with_tags(self, tags: tuple[str, ...]) -> np.ndarray:
        """A mask of the chunks that carry one of the tags."""
        mask = np.zeros(len(self.chunks), dtype=bool)
        for tag in tags:
            mask[self._tag_rows.get(tag, np.zeros(0, dtype=np.int64))] = True
        return mask

    @functools.cached_property
    def _first_sentences(self) -> dict[str, int]:
        first: dict[str, int] = {}
        for row, chunk in enumerate(self.chunks):
            sentence = int(self.chunk_sentences[row][0])
            first[chunk.doc_id] = min(sentence, first.get(chunk.doc_id, sentence))
        return first

    def first_sentence_of(self, doc_id: str) -> int:
        """The sentence row where a document's text begins."""
        return self._first_sentences.get(doc_id, 0)

    def sentence_text(self, row: int, sentence: int) -> str:
        """The text of a sentence of the chunk at a row."""
        chunk = self.chunks[row]
        start, end = self.sentence_spans[sentence]
        return chunk.text[int(start) - chunk.start : int(end) - chunk.start]


def build_snapshot(catalog: Catalog, root: Path) -> int:
    """Write the snapshot of the catalog's current contents; returns its generation."""
    generation = catalog.generation()
    folder = root / f"snapshot-{generation}"
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)

    doc_ids: list[str] = []
    starts: list[int] = []
    spans: list[tuple[int, int]] = []
    vectors: list[np.ndarray] = []
    for doc_id, start, end, vector in catalog.iter_sentences():
        doc_ids.append(doc_id)
        starts.append(start)
        spans.append((start, end))
        vectors.append(vector)
    first_row: dict[str, int] = {}
    for row, doc_id in enumerate(doc_ids):
        first_row.setdefault(doc_id, row)

    chunks: list[ChunkInfo] = []
    ranges: list[tuple[int, int]] = []
    tokens: list[list[str]] = []
    span_array = np.asarray(spans, dtype=np.int64).reshape(-1, 2)
    for stored in catalog.iter_chunks():
        info = stored.info
        chunks.append(info)
        tokens.append(tokenize(passage_text(info)))
        begin = first_row.get(info.doc_id, 0)
        stop = begin
        while stop < len(doc_ids) and doc_ids[stop] == info.doc_id and span_array[stop, 0] < info.end:
            stop += 1
        first = begin
        while first < stop and span_array[first, 0] < info.start:
            first += 1
        ranges.append((first, stop))

    BM25Index.build(tokens).save(folder)
    np.save(folder / "chunk_sentences.npy", np.asarray(ranges, dtype=np.int64).reshape(-1, 2))
    np.save(folder / "sentence_spans.npy", span_array)
    dim = vectors[0].shape[0] if vectors else 0
    matrix = np.stack(vectors).astype(np.float16) if vectors else np.zeros((0, dim), dtype=np.float16)
    np.save(folder / "sentence_vectors.npy", matrix)
    (folder / "chunks.json").write_text(json.dumps([_chunk_record(c) for c in chunks]), encoding="utf-8")

    pointer = root / f"{_POINTER}.tmp"
    pointer.write_text(folder.name, encoding="utf-8")
    os.replace(pointer, root / _POINTER)
    for old in root.glob("snapshot-*"):
        if old != folder:
            shutil.rmtree(old, ignore_errors=True)
    return generation


def current_generation(root: Path) -> int | None:
    """The generation the pointer names, or None when there is no snapshot."""
    try:
        return int((root / _POINTER).read_text(encoding="utf-8").rsplit("-", 1)[1])
    except (OSError, IndexError, ValueError):
        return None


def open_snapshot(root: Path) -> Snapshot:
    """Load the current snapshot of an index folder."""
    generation = current_generation(root)
    folder = root / f"snapshot-{generation}"
    if generation is None or not (folder / "chunks.json").exists():
        raise IndexMissingError("No index for this corpus yet; run `assistant ingest` first.")
    records = json.loads((folder / "chunks.json").read_text(encoding="utf-8"))
    chunks = [ChunkInfo(**{**record, "tags": tuple(record["tags"])}) for record in records]
    return Snapshot(
        generation=generation,
        chunks=chunks,
        row_of={chunk.chunk_id: row for row, chunk in enumerate(chunks)},
        bm25=BM25Index.open(folder),
        chunk_sentences=np.load(folder / "chunk_sentences.npy"),
        sentence_spans=np.load(folder / "sentence_spans.npy"),
        sentence_vectors=np.load(folder / "sentence_vectors.npy", mmap_mode="r"),
    )


def _chunk_record(info: ChunkInfo) -> dict[str, object]:
    record = asdict(info)
    record["tags"] = list(info.tags)
    return record
