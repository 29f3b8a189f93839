"""Which snapshot a process answers from, and the local copy of a Chroma server's index that app servers keep.

Embedded (no ASSISTANT_CHROMA_URL): the snapshot the pointer file in the index folder names, as the last
ingest left it. When the pointer moves (an ingest, in this process or another), the next question opens
the new snapshot and reopens the embedded Chroma store, whose in-memory vector index would miss the new
chunks otherwise.

With a Chroma server the local index folder is only a cache. The server holds the chunks with their
texts and metadata, the sentence vectors, and the index's version; on every question an app server
compares that version with its snapshot's and, when they differ, brings its copy up to date: documents
whose hash is unchanged are kept, the others are fetched from the server, and the lexical index is
rebuilt. So any number of app servers, started on empty folders, answer alike from one server and follow
every ingest on their next question.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from assistant.errors import IndexMissingError
from assistant.index.chroma import VectorStore
from assistant.index.snapshot import DocumentInfo, Snapshot, open_snapshot, read_pointer
from assistant.index.snapshot_build import SourceDocument, build_snapshot
from assistant.settings import Settings

_DOCUMENTS_PER_FETCH = 100
_ATTEMPTS = 3  # copies tried while ingests keep changing the server under us


class SnapshotTracker:
    """The current snapshot of one index, reloaded (or re-mirrored) when the index changes."""

    def __init__(self, settings: Settings, store: VectorStore, on_load: Callable[[], Any] | None = None) -> None:
        """on_load: called after a snapshot from a Chroma server is loaded (makes the query encoder's export)."""
        self.settings = settings
        self.store = store
        self.on_load = on_load
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether a snapshot has been loaded (a question answered): current() then costs little."""
        return self._snapshot is not None

    def current(self) -> Snapshot:
        """The snapshot to answer the next question from."""
        if self.settings.chroma_url:
            return self._following_server()
        snapshot = self._snapshot
        if snapshot is None or read_pointer(self.settings.index_path()) != snapshot.name:
            with self._lock:
                if self._snapshot is None or read_pointer(self.settings.index_path()) != self._snapshot.name:
                    fresh = open_snapshot(self.settings.index_path())
                    if self._snapshot is not None:
                        self.store.reopen()
                    self._snapshot = fresh
                snapshot = self._snapshot
        return snapshot

    def _following_server(self) -> Snapshot:
        version = self.store.version()
        snapshot = self._snapshot
        if snapshot is None or snapshot.version != version:
            with self._lock:
                if self._snapshot is None or self._snapshot.version != version:
                    self._snapshot = mirror(self.settings, self.store, version)
                    if self.on_load is not None:
                        self.on_load()
                snapshot = self._snapshot
        return snapshot


def mirror(settings: Settings, store: VectorStore, version: str) -> Snapshot:
    """The local snapshot of the version a Chroma server holds: the one on disk when it is that version,
    else a copy brought up to date from the server."""
    root = settings.index_path()
    try:
        local = open_snapshot(root)
        if local.version == version:
            return local
    except IndexMissingError:
        pass  # none yet, or damaged: copied afresh
    snapshot = build_snapshot(ChromaSource(store), root, version)
    for _ in range(_ATTEMPTS - 1):
        now = store.version()
        if now == version:
            break
        version = now  # an ingest finished while we copied: catch up with it
        snapshot = build_snapshot(ChromaSource(store), root, version)
    return snapshot


class ChromaSource:
    """A Chroma server's index as a snapshot source: chunk metadata first, then texts and sentences by document."""

    def __init__(self, store: VectorStore) -> None:
        self.store = store
        self._chunks: dict[str, list[tuple[str, dict[str, Any]]]] = {}

    def document_hashes(self) -> dict[str, str]:
        chunks: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for chunk_id, metadata, _ in self.store.records():
            chunks[str(metadata.get("doc_id", ""))].append((chunk_id, metadata))
        self._chunks = chunks
        return {doc_id: str(items[0][1].get("doc_hash", "")) for doc_id, items in chunks.items()}

    def documents(self, doc_ids: list[str]) -> Iterator[SourceDocument]:
        for first in range(0, len(doc_ids), _DOCUMENTS_PER_FETCH):
            batch = doc_ids[first : first + _DOCUMENTS_PER_FETCH]
            texts = self.store.texts([chunk_id for doc_id in batch for chunk_id, _ in self._chunks[doc_id]])
            sentences = self.store.sentences(batch)
            for doc_id in batch:
                document = self._document(doc_id, texts, sentences[doc_id])
                if document is not None:
                    yield document

    def _document(
        self, doc_id: str, texts: dict[str, str], sentences: list[tuple[int, int, str, Any]]
    ) -> SourceDocument | None:
        chunks = sorted(self._chunks[doc_id], key=lambda item: int(item[1]["start"]))
        chunks = [(chunk_id, metadata) for chunk_id, metadata in chunks if chunk_id in texts]
        if not chunks:
            return None  # deleted since the listing
        first = chunks[0][1]
        tags = first.get("tags") or ()
        info = DocumentInfo(
            doc_id,
            str(first.get("title", "")),
            str(first.get("source", "")),
            first.get("date") or None,
            tuple(tags) if isinstance(tags, list | tuple) else (str(tags),),
            first.get("url") or None,
            str(first.get("doc_hash", "")),
            first.get("voice") or None,
            first.get("publisher") or None,
            first.get("license") or None,
        )
        # Sentences of another version of the document (an ingest in between) would not fit its chunks.
        rows = sorted((s for s in sentences if s[2] == info.doc_hash), key=lambda s: s[0])
        return SourceDocument(
            info,
            [(chunk_id, int(m["start"]), int(m["end"]), texts[chunk_id]) for chunk_id, m in chunks],
            np.asarray([(start, end) for start, end, _, _ in rows], dtype=np.int64).reshape(-1, 2),
            np.asarray([vector for *_, vector in rows], dtype=np.float32) if rows else np.zeros((0, 0), np.float32),
        )
