"""Writing snapshots (snapshot.py): from the catalog at ingest, or from a Chroma server's index on an app server.

A build streams documents in doc_id order into flat files. Every document of the previous snapshot whose
hash is unchanged is copied from it as bytes (texts, term counts, sentence vectors), so only new and changed
documents are read from the source and tokenized: after an ingest of one document, a rebuild costs little
more than copying files.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import uuid
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.errors import IndexMissingError
from assistant.index.catalog import Catalog
from assistant.index.chroma import date_int
from assistant.index.lexical import BM25Builder, tokenize
from assistant.index.packed import PackedStringsWriter
from assistant.index.snapshot import (
    FORMAT,
    POINTER,
    DocumentInfo,
    Snapshot,
    file_sha256,
    id_hash,
    index_version,
    open_snapshot,
    passage_text,
    read_pointer,
)
from assistant.types import ChunkInfo


@dataclass(frozen=True)
class SourceDocument:
    """A document as a snapshot source gives it: metadata, chunks in order, sentences with vectors."""

    info: DocumentInfo
    chunks: list[tuple[str, int, int, str]]  # (chunk_id, start, end, text), in document order
    sentence_spans: np.ndarray  # (sentences, 2) start and end, ordered by start
    sentence_vectors: np.ndarray  # (sentences, dim) unit vectors


class SnapshotSource(Protocol):
    """Where a snapshot's documents come from (the catalog, a Chroma server, a benchmark's generator)."""

    def document_hashes(self) -> dict[str, str]:
        """doc_id -> doc_hash of every document."""
        ...

    def documents(self, doc_ids: list[str]) -> Iterator[SourceDocument]:
        """The documents asked for (sorted ids), in that order; a document that is gone is left out."""
        ...


def build_snapshot(source: SnapshotSource, root: Path, version: str | None = None) -> Snapshot:
    """Write a snapshot of the source's documents into root and make it current; returns it opened.

    version: what to call it (default: index_version of the source's document hashes)."""
    hashes = source.document_hashes()
    version = version or index_version(hashes)
    root.mkdir(parents=True, exist_ok=True)
    try:
        previous: Snapshot | None = open_snapshot(root)
    except IndexMissingError:
        previous = None  # none yet, or damaged: everything comes from the source
    order = sorted(hashes)
    kept = {
        doc_id
        for doc_id in order
        if previous is not None
        and doc_id in previous.doc_index
        and previous.documents[previous.doc_index[doc_id]].doc_hash == hashes[doc_id]
    }
    fetched = source.documents([doc_id for doc_id in order if doc_id not in kept])
    building = root / f".building-{uuid.uuid4().hex[:12]}"
    writer = _Writer(building)
    try:
        pending = next(fetched, None)
        for doc_id in order:
            if doc_id in kept:
                assert previous is not None
                writer.copy(previous, previous.doc_index[doc_id])
            elif pending is not None and pending.info.doc_id == doc_id:
                writer.add(pending)
                pending = next(fetched, None)
        writer.finish(version)
        folder = root / f"snapshot-{version}-{uuid.uuid4().hex[:8]}"
        os.replace(building, folder)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    _switch(root, folder, keep=previous.name if previous else None)
    return Snapshot(folder, verify=False)  # finish() hashed its files a moment ago


def _switch(root: Path, folder: Path, keep: str | None) -> None:
    """Point root at a new snapshot folder in one step; remove older folders but the one just replaced.

    The replaced one stays a while: a process may have read the pointer and not opened it yet."""
    pointer = root / f"{POINTER}.{uuid.uuid4().hex[:8]}.tmp"
    pointer.write_text(folder.name, encoding="utf-8")
    os.replace(pointer, root / POINTER)
    current = read_pointer(root)
    for old in root.glob("snapshot-*"):
        if old.name not in (folder.name, keep, current):
            shutil.rmtree(old, ignore_errors=True)


class _Writer:
    """Streams documents into a snapshot folder; `finish` writes the arrays and the manifest."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True)
        self.folder = folder
        self.chunk_ids = PackedStringsWriter(folder, "chunk_ids")
        self.texts = PackedStringsWriter(folder, "texts")
        self.vectors = (folder / "sentence_vectors.f16").open("wb")
        self.dim = 0
        self.documents: list[DocumentInfo] = []
        self.hashes = array("Q")
        self.chunk_doc = array("i")
        self.chunk_spans = array("q")
        self.chunk_sentences = array("q")
        self.sentence_spans = array("q")
        self.doc_chunks = array("q", [0])
        self.doc_sentences = array("q", [0])
        self.bm25 = BM25Builder()

    @property
    def sentences(self) -> int:
        return len(self.sentence_spans) // 2

    def add(self, document: SourceDocument) -> None:
        """Add a document from its source record: its chunks are tokenized here."""
        index = len(self.documents)
        self.documents.append(document.info)
        spans = np.asarray(document.sentence_spans, dtype=np.int64).reshape(-1, 2)
        base = self.sentences
        info = document.info
        for chunk_id, start, end, text in document.chunks:
            self.chunk_ids.append(chunk_id)
            self.hashes.append(id_hash(chunk_id))
            self.texts.append(text)
            self.chunk_doc.append(index)
            self.chunk_spans.extend((start, end))
            # The sentences that start inside the chunk (the chunker cuts at sentence bounds).
            first, stop = np.searchsorted(spans[:, 0], [start, end], side="left")
            self.chunk_sentences.extend((base + int(first), base + int(stop)))
            chunk = ChunkInfo(chunk_id, info.doc_id, text, start, end, info.title, info.source)
            self.bm25.add_tokens(tokenize(passage_text(chunk)))
        self._add_sentences(spans, np.asarray(document.sentence_vectors, dtype=np.float16).tobytes(), len(spans))
        self.doc_chunks.append(len(self.chunk_doc))

    def copy(self, previous: Snapshot, doc: int) -> None:
        """Add a document of a previous snapshot as it is there."""
        index = len(self.documents)
        self.documents.append(previous.documents[doc])
        first, stop = int(previous.doc_chunks[doc]), int(previous.doc_chunks[doc + 1])
        first_sentence, stop_sentence = int(previous.doc_sentences[doc]), int(previous.doc_sentences[doc + 1])
        for packed, writer in ((previous.chunk_ids, self.chunk_ids), (previous.texts, self.texts)):
            writer.append_raw(packed.raw_range(first, stop), packed.lengths(first, stop))
        self.hashes.extend(id_hash(chunk_id) for chunk_id in previous.chunk_ids[first:stop])
        self.chunk_doc.extend(itertools.repeat(index, stop - first))
        self.chunk_spans.frombytes(np.asarray(previous.chunk_spans[first:stop], dtype=np.int64).tobytes())
        shifted = np.asarray(previous.chunk_sentences[first:stop], dtype=np.int64) - first_sentence + self.sentences
        self.chunk_sentences.frombytes(shifted.tobytes())
        self.bm25.add_rows_from(previous.bm25, first, stop)
        vectors = np.asarray(previous.sentence_vectors[first_sentence:stop_sentence], dtype=np.float16)
        spans = np.asarray(previous.sentence_spans[first_sentence:stop_sentence], dtype=np.int64)
        self._add_sentences(spans, vectors.tobytes(), stop_sentence - first_sentence, vectors.shape[1])
        self.doc_chunks.append(len(self.chunk_doc))

    def _add_sentences(self, spans: np.ndarray, vectors: bytes, count: int, dim: int | None = None) -> None:
        if count:
            width = dim if dim is not None else len(vectors) // (2 * count)
            if self.dim and width != self.dim:
                raise ValueError(f"sentence vectors of {width} dimensions among ones of {self.dim}")
            self.dim = width
            self.vectors.write(vectors)
            self.sentence_spans.frombytes(spans.astype(np.int64).tobytes())
        self.doc_sentences.append(self.sentences)

    def finish(self, version: str) -> None:
        """Write the arrays, the documents and (last) the manifest that lists every file with its size."""
        self.chunk_ids.close()
        self.texts.close()
        self.vectors.close()
        hashes = np.frombuffer(self.hashes, dtype=np.uint64)
        order = np.argsort(hashes, kind="stable")
        arrays: dict[str, np.ndarray] = {
            "chunk_doc": np.frombuffer(self.chunk_doc, dtype=np.int32),
            "chunk_spans": np.frombuffer(self.chunk_spans, dtype=np.int64).reshape(-1, 2),
            "doc_chunks": np.frombuffer(self.doc_chunks, dtype=np.int64),
            "doc_sentences": np.frombuffer(self.doc_sentences, dtype=np.int64),
            "doc_dates": np.asarray([date_int(d.date) if d.date else 0 for d in self.documents], dtype=np.int32),
            "chunk_sentences": np.frombuffer(self.chunk_sentences, dtype=np.int64).reshape(-1, 2),
            "sentence_spans": np.frombuffer(self.sentence_spans, dtype=np.int64).reshape(-1, 2),
            "id_hashes": hashes[order],
            "id_rows": order.astype(np.int64),
        }
        for name, values in arrays.items():
            np.save(self.folder / f"{name}.npy", values)
        self.bm25.build().save(self.folder)
        records = [
            [d.doc_id, d.title, d.source, d.date, list(d.tags), d.url, d.doc_hash, d.voice, d.publisher, d.license]
            for d in self.documents
        ]
        (self.folder / "documents.json").write_text(json.dumps(records), encoding="utf-8")
        files = {
            path.name: {"bytes": path.stat().st_size, "sha256": file_sha256(path)}
            for path in sorted(self.folder.iterdir())
        }
        manifest = {
            "format": FORMAT,
            "version": version,
            "dim": self.dim,
            "documents": len(self.documents),
            "chunks": len(self.chunk_doc),
            "sentences": self.sentences,
            "files": files,
        }
        (self.folder / "manifest.json").write_text(json.dumps(manifest, indent=1), encoding="utf-8")


class CatalogSource:
    """The local catalog as a snapshot source (what ingest builds from)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def document_hashes(self) -> dict[str, str]:
        return {doc_id: doc_hash for doc_id, (_, doc_hash) in self.catalog.document_hashes().items()}

    def documents(self, doc_ids: list[str]) -> Iterator[SourceDocument]:
        wanted = set(doc_ids)
        if not wanted:
            return
        # Both come in doc_id order: walk them side by side, one document at a time.
        by_doc = itertools.groupby(self.catalog.iter_sentences(), key=lambda row: row[0])
        sentences = ((doc_id, list(rows)) for doc_id, rows in by_doc)
        current = next(sentences, None)
        for doc_id, stored in itertools.groupby(self.catalog.iter_chunks(), key=lambda c: c.info.doc_id):
            chunks = list(stored)
            while current is not None and current[0] < doc_id:
                current = next(sentences, None)
            if doc_id not in wanted:
                continue
            rows = current[1] if current is not None and current[0] == doc_id else []
            first = chunks[0].info
            info = DocumentInfo(
                doc_id,
                first.title,
                first.source,
                first.date,
                first.tags,
                first.url,
                chunks[0].doc_hash,
                first.voice,
                first.publisher,
                first.license,
            )
            yield SourceDocument(
                info,
                [(c.info.chunk_id, c.info.start, c.info.end, c.info.text) for c in chunks],
                np.asarray([(start, end) for _, start, end, _ in rows], dtype=np.int64).reshape(-1, 2),
                np.stack([vector for *_, vector in rows]) if rows else np.zeros((0, 0), dtype=np.float32),
            )
