"""The local record of an index: every document, chunk and sentence with its vector, in SQLite.

The catalog is what ingest compares the corpus folder against, what the Chroma collection is kept in
step with (so a new or wiped Chroma server is refilled without embedding again), and what the
query-time snapshot (snapshot.py) is built from.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.index.windows import WindowStates
from assistant.types import Chunk, ChunkInfo, Document, Span

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (source TEXT PRIMARY KEY, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY, source TEXT NOT NULL, doc_hash TEXT NOT NULL, title TEXT NOT NULL,
    date TEXT, tags TEXT NOT NULL, url TEXT, text TEXT NOT NULL, voice TEXT, publisher TEXT, license TEXT);
CREATE INDEX IF NOT EXISTS documents_by_source ON documents (source);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id TEXT PRIMARY KEY, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc_id);
CREATE TABLE IF NOT EXISTS sentences (
    doc_id TEXT NOT NULL, start INTEGER NOT NULL, "end" INTEGER NOT NULL, vector BLOB NOT NULL,
    PRIMARY KEY (doc_id, start));
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS embedded_windows (key TEXT PRIMARY KEY, counts BLOB NOT NULL, sums BLOB NOT NULL);
"""


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as the catalog holds it: its index record, its vector and its document's hash."""

    info: ChunkInfo
    vector: np.ndarray
    doc_hash: str


class Catalog:
    """Documents, chunks and sentence vectors of one index, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._db:
            yield

    # -- what ingest compares against

    def file_hashes(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT source, sha256 FROM files"))

    def set_file_hash(self, source: str, sha256: str | None) -> None:
        if sha256 is None:
            self._db.execute("DELETE FROM files WHERE source = ?", (source,))
        else:
            self._db.execute("INSERT OR REPLACE INTO files VALUES (?, ?)", (source, sha256))

    def document_hashes(self) -> dict[str, tuple[str, str]]:
        """doc_id -> (source, doc_hash) of every document."""
        return {
            doc_id: (source, h)
            for doc_id, source, h in self._db.execute("SELECT doc_id, source, doc_hash FROM documents")
        }

    def generation(self) -> int:
        row = self._db.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

    def bump_generation(self) -> int:
        generation = self.generation() + 1
        self._db.execute("INSERT OR REPLACE INTO state VALUES ('generation', ?)", (str(generation),))
        return generation

    # -- writing

    def put_document(
        self,
        document: Document,
        doc_hash: str,
        chunks: list[Chunk],
        chunk_vectors: np.ndarray,
        sentences: list[Span],
        sentence_vectors: np.ndarray,
    ) -> None:
        self.delete_document(document.doc_id)
        self._db.execute(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                document.doc_id,
                document.source,
                doc_hash,
                document.title,
                document.date,
                json.dumps(list(document.tags)),
                document.url,
                document.text,
                document.voice,
                document.publisher,
                document.license,
            ),
        )
        self._db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?)",
            [
                (c.chunk_id, c.doc_id, c.ordinal, c.start, c.end, _blob(v))
                for c, v in zip(chunks, chunk_vectors, strict=True)
            ],
        )
        self._db.executemany(
            "INSERT OR REPLACE INTO sentences VALUES (?, ?, ?, ?)",
            [(document.doc_id, s.start, s.end, _blob(v)) for s, v in zip(sentences, sentence_vectors, strict=True)],
        )

    def delete_document(self, doc_id: str) -> int:
        """Remove a document with its chunks and sentences; the number of chunks removed."""
        removed = self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,)).rowcount
        self._db.execute("DELETE FROM sentences WHERE doc_id = ?", (doc_id,))
        self._db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,))
        return removed

    # -- token windows embedded for documents not yet written: what an interrupted ingest goes on from

    def put_windows(self, states: dict[str, WindowStates]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO embedded_windows VALUES (?, ?, ?)",
            [(key, state.counts.astype(np.int32).tobytes(), _blob(state.sums)) for key, state in states.items()],
        )

    def windows(self, keys: list[str]) -> dict[str, WindowStates]:
        """The stored states of those windows that were embedded before."""
        found: dict[str, WindowStates] = {}
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT key, counts, sums FROM embedded_windows WHERE key IN ({','.join('?' * len(batch))})", batch
            )
            for key, counts, sums in rows:
                count = np.frombuffer(counts, dtype=np.int32)
                found[key] = WindowStates(np.frombuffer(sums, dtype=np.float32).reshape(len(count), -1), count)
        return found

    def drop_windows(self, keys: list[str]) -> None:
        """Forget embedded windows: once their documents are written they are not needed."""
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            self._db.execute(f"DELETE FROM embedded_windows WHERE key IN ({','.join('?' * len(batch))})", batch)

    # -- reading

    def count_chunks(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def count_documents(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def chunk_hashes(self) -> dict[str, str]:
        """chunk_id -> doc_hash of every chunk."""
        query = "SELECT c.chunk_id, d.doc_hash FROM chunks c JOIN documents d USING (doc_id)"
        return dict(self._db.execute(query))

    def iter_chunks(self, chunk_ids: list[str] | None = None) -> Iterator[StoredChunk]:
        """Chunks in document order, with their text, metadata and vector."""
        query = (
            'SELECT c.chunk_id, c.doc_id, c.start, c."end", c.vector, d.title, d.source, d.date, d.tags, d.url, '
            'd.voice, d.publisher, d.license, d.doc_hash, substr(d.text, c.start + 1, c."end" - c.start) '
            "FROM chunks c JOIN documents d USING (doc_id)"
        )
        if chunk_ids is not None:
            for batch_start in range(0, len(chunk_ids), 500):
                batch = chunk_ids[batch_start : batch_start + 500]
                marks = ",".join("?" * len(batch))
                yield from self._chunks(
                    self._db.execute(f"{query} WHERE c.chunk_id IN ({marks}) ORDER BY c.doc_id, c.ordinal", batch)
                )
        else:
            yield from self._chunks(self._db.execute(f"{query} ORDER BY c.doc_id, c.ordinal"))

    @staticmethod
    def _chunks(rows: sqlite3.Cursor) -> Iterator[StoredChunk]:
        for chunk_id, doc_id, start, end, vector, title, source, date, tags, url, *voice, doc_hash, text in rows:
            info = ChunkInfo(
                chunk_id, doc_id, text, start, end, title, source, date, tuple(json.loads(tags)), url, *voice
            )
            yield StoredChunk(info, np.frombuffer(vector, dtype=np.float32), doc_hash)

    def iter_sentences(self) -> Iterator[tuple[str, int, int, np.ndarray]]:
        """(doc_id, start, end, vector) of every sentence, in document order."""
        for doc_id, start, end, vector in self._db.execute(
            'SELECT doc_id, start, "end", vector FROM sentences ORDER BY doc_id, start'
        ):
            yield doc_id, start, end, np.frombuffer(vector, dtype=np.float32)

    def iter_documents(self) -> Iterator[Document]:
        """Every document, as loaded from its file, in id order."""
        query = (
            "SELECT doc_id, text, title, source, date, tags, url, voice, publisher, license "
            "FROM documents ORDER BY doc_id"
        )
        for doc_id, text, title, source, date, tags, url, *voice in self._db.execute(query):
            yield Document(doc_id, text, title, source, date, tuple(json.loads(tags)), url, *voice)

    def document_text(self, doc_id: str) -> str | None:
        row = self._db.execute("SELECT text FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
        return row[0] if row else None


def _blob(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()
