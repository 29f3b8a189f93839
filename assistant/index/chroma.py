"""Chunk vectors in Chroma: the embedded persistent store, or a Chroma server given by URL.

With a server, it also holds what app servers need to answer without any local state: every chunk's text
and metadata (in the chunk collection), the sentence vectors (a second collection), and the version of the
index (collection metadata) that app servers compare their local copy with.

chromadb is imported in this module only.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np

from assistant.errors import BackendError, IndexMissingError, UsageError
from assistant.settings import Settings
from assistant.types import ChunkInfo, Filters

_T = TypeVar("_T")
PAGE = 5000  # records a read asks Chroma for at once
_BATCH = 1000  # records a write sends at once
# chromadb keeps one client state per folder per process; making two at once races ("Could not connect to
# tenant default_tenant"), so every store of this process opens (and reopens) its client under one lock.
_OPENING = threading.Lock()


class VectorStore:
    """One Chroma collection of chunk vectors, named after the settings that shape them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.index_name()
        self.sentences_name = f"{self.name}-sentences"
        self._client_handle: Any = None
        self._collections: dict[str, Any] = {}

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir / "chroma")

    @property
    def is_server(self) -> bool:
        return bool(self.settings.chroma_url)

    def client(self) -> Any:
        """A chromadb client for this store (what langchain-chroma's `Chroma(client=...)` takes)."""
        self.count()  # connects and makes the collection, or raises a clear BackendError
        with _OPENING:
            return self._client()

    def _client(self) -> Any:
        if self._client_handle is None:
            self._client_handle = self._new_client()
        return self._client_handle

    def _new_client(self) -> Any:
        import chromadb

        if self.settings.chroma_url:
            url = urlparse(self.settings.chroma_url)
            if url.scheme not in ("http", "https") or not url.hostname:
                url_text = self.settings.chroma_url
                raise UsageError(f"ASSISTANT_CHROMA_URL '{url_text}' is not an http(s)://host:port URL.")
            port = url.port or (443 if url.scheme == "https" else 8000)
            return chromadb.HttpClient(host=url.hostname, port=port, ssl=url.scheme == "https")
        self.settings.index_dir.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(self.settings.index_dir / "chroma"))

    def reopen(self) -> None:
        """Drop this process's state of the embedded store, so the next call sees what other processes wrote.

        The embedded store keeps its vector index in memory once loaded and never rereads it: without this, a
        running server would not find, by vector, the chunks an `assistant ingest` in another process added.
        Calls in flight finish on the old state; a call that then fails on it is retried on the new one."""
        if self.is_server:
            return  # a server is shared: every call already sees every write
        from chromadb.api.shared_system_client import SharedSystemClient

        with _OPENING:
            old, self._client_handle, self._collections = self._client_handle, None, {}
            if old is None:
                return
            identifier = old._identifier
            system = SharedSystemClient._identifier_to_system.pop(identifier, None)
            SharedSystemClient._identifier_to_refcount.pop(identifier, None)
        if system is not None:
            system.stop()

    def _open(self, name: str, create: bool) -> Any:
        collection = self._collections.get(name)
        if collection is not None:
            return collection
        with _OPENING:
            if name not in self._collections:
                client = self._client()
                if create:
                    sentences = name == self.sentences_name
                    self._collections[name] = client.get_or_create_collection(
                        name,
                        embedding_function=None,
                        # Sentence vectors are only ever fetched by document, never searched: a sparse graph.
                        configuration={"hnsw": {"space": "cosine", **(_LOOKUP_ONLY if sentences else {})}},
                        metadata={"embedding_model": self.settings.embedding_model},
                    )
                else:
                    self._collections[name] = client.get_collection(name, embedding_function=None)
            return self._collections[name]

    def _call(self, action: Callable[[Any], _T], create: bool = True, name: str | None = None) -> _T:
        """Run an action on a collection (default: the chunks'); a failure of the store becomes one clear BackendError.

        create=False (queries): a missing collection is an IndexMissingError, not a new empty one, so a
        wiped or new Chroma server is reported instead of silently answering from the lexical index alone.
        """
        from chromadb.errors import NotFoundError

        name = name or self.name
        collection = None
        try:
            try:
                collection = self._open(name, create)
                return action(collection)
            except NotFoundError:
                # The collection was deleted since this handle was opened (a wiped or restarted server): reopen once.
                self._collections.pop(name, None)
                return action(self._open(name, create))
            except Exception:
                if collection is None or self._collections.get(name) is collection:
                    raise
                return action(self._open(name, create))  # reopened meanwhile (reopen()): once more on the new state
        except (UsageError, IndexMissingError):
            raise
        except NotFoundError as exc:
            self._collections.pop(name, None)
            raise IndexMissingError(self._missing()) from exc
        except Exception as exc:
            self._collections.pop(name, None)  # reconnect on the next call: the server may be back
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            if self.settings.chroma_url:
                hint = (
                    "check that the server is running (`chroma run --host 127.0.0.1 --port 8000`) "
                    "or unset ASSISTANT_CHROMA_URL"
                )
            else:
                hint = self._diagnose()
            raise BackendError(f"Chroma at {self.location} failed ({detail}); {hint}.") from exc

    def _diagnose(self) -> str:
        """What is wrong with the embedded store's folder, as far as can be told from outside Chroma."""
        folder = Path(self.location)
        existing = next((parent for parent in (folder, *folder.parents) if parent.exists()), folder)
        if not existing.is_dir():
            return f"{existing} is a file where the store's folder should be: move it away"
        if not os.access(existing, os.W_OK):
            return f"the folder {existing} is not writable by this user: fix its permissions or set ASSISTANT_INDEX_DIR"
        if shutil.disk_usage(existing).free < 50_000_000:
            return f"the disk that holds {existing} is full: free some space"
        return (
            f"the folder {folder} may have been written by another version of Chroma; move it away and run "
            "`assistant ingest` to rebuild it from the catalog"
        )

    def _missing(self) -> str:
        where = f"The Chroma {'server at' if self.settings.chroma_url else 'store in'} {self.location}"
        return (
            f"{where} holds no vectors for this corpus (collection {self.name}); "
            "run `assistant ingest` to fill it from the local catalog."
        )

    def doc_hashes(self) -> dict[str, str]:
        """chunk_id -> doc_hash of every chunk in the collection."""
        return {chunk_id: str(metadata.get("doc_hash", "")) for chunk_id, metadata, _ in self.records(create=True)}

    def records(
        self,
        include: Sequence[str] = (),
        where: dict[str, Any] | None = None,
        sentences: bool = False,
        create: bool = False,
    ) -> Iterator[tuple[str, dict[str, Any], Any]]:
        """(id, metadata, document or vector) of every record of the chunk (or sentence) collection, page by page.

        include: "documents" or "embeddings" for the third item (else None); where: a Chroma filter;
        create: make the collection when it is missing (else IndexMissingError)."""
        fields = ["metadatas", *include]
        offset = 0
        while True:
            got = self._call(
                lambda c: c.get(include=fields, where=where, limit=PAGE, offset=offset),  # noqa: B023
                create=create,
                name=self.sentences_name if sentences else None,
            )
            extra = got[include[0]] if include else None
            for i, record_id in enumerate(got["ids"]):
                yield record_id, got["metadatas"][i] or {}, None if extra is None else extra[i]
            if len(got["ids"]) < PAGE:
                return
            offset += PAGE

    def vectors(self, chunk_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """chunk_id -> unit vector of the chunks asked for (those still there)."""
        if not chunk_ids:
            return {}
        got = self._call(lambda c: c.get(ids=list(chunk_ids), include=["embeddings"]), create=False)
        return {
            chunk_id: np.asarray(vector, dtype=np.float32)
            for chunk_id, vector in zip(got["ids"], got["embeddings"], strict=True)
        }

    def texts(self, chunk_ids: Sequence[str]) -> dict[str, str]:
        """chunk_id -> text of the chunks asked for (those still there)."""
        texts: dict[str, str] = {}
        for start in range(0, len(chunk_ids), PAGE):
            part = list(chunk_ids[start : start + PAGE])
            got = self._call(lambda c: c.get(ids=part, include=["documents"]), create=False)  # noqa: B023
            texts.update(zip(got["ids"], got["documents"], strict=True))
        return texts

    def add(self, records: Sequence[tuple[ChunkInfo, np.ndarray, str]]) -> None:
        """Add (or replace) chunks with their vectors; each record is (chunk, vector, doc_hash)."""
        self._upsert(
            [info.chunk_id for info, _, _ in records],
            [vector for _, vector, _ in records],
            [_metadata(info, doc_hash) for info, _, doc_hash in records],
            [info.text for info, _, _ in records],
        )

    def _upsert(
        self, ids: list[str], vectors: Sequence[np.ndarray], metadatas: list[dict[str, Any]], texts: list[str] | None
    ) -> None:
        def write(collection: Any) -> None:
            for start in range(0, len(ids), _BATCH):
                stop = start + _BATCH
                documents = {"documents": texts[start:stop]} if texts is not None else {}
                collection.upsert(
                    ids=ids[start:stop],
                    embeddings=np.stack(vectors[start:stop]),
                    metadatas=metadatas[start:stop],
                    **documents,
                )

        if ids:
            self._call(write, name=self.name if texts is not None else self.sentences_name)

    def delete(self, chunk_ids: Iterable[str]) -> None:
        ids = list(chunk_ids)

        def remove(collection: Any) -> None:
            for start in range(0, len(ids), _BATCH):
                collection.delete(ids=ids[start : start + _BATCH])

        if ids:
            self._call(remove)

    def count(self) -> int:
        return self._call(lambda collection: int(collection.count()))

    def query(
        self, vector: np.ndarray, n: int, filters: Filters | None = None, ids: list[str] | None = None
    ) -> list[tuple[str, float]]:
        """The n nearest chunks as (chunk_id, cosine similarity), best first; only those that pass the filters,
        or only among ids when given."""
        where = chroma_where(filters)
        among = {"ids": ids} if ids is not None else {}

        def search(collection: Any) -> list[tuple[str, float]]:
            if ids is not None and not ids:
                return []
            got = collection.query(query_embeddings=[vector], n_results=n, where=where, include=["distances"], **among)
            if not got["ids"][0] and where is None and ids is None and n > 0 and not collection.count():
                raise IndexMissingError(self._missing())  # an emptied collection: the same as a missing one
            pairs = zip(got["ids"][0], got["distances"][0], strict=True)
            return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in pairs]

        return self._call(search, create=False)

    # -- what app servers need besides the chunks (a Chroma server only)

    def put_sentences(self, documents: Sequence[tuple[str, str, np.ndarray, np.ndarray]]) -> None:
        """Store the sentences of documents, given as (doc_id, doc_hash, spans, vectors): a record a sentence."""
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        metadatas: list[dict[str, Any]] = []
        for doc_id, doc_hash, spans, sentence_vectors in documents:
            for (start, end), vector in zip(np.asarray(spans).tolist(), sentence_vectors, strict=True):
                ids.append(f"{doc_id}@{start}")
                vectors.append(np.asarray(vector, dtype=np.float32))
                metadatas.append({"doc_id": doc_id, "start": start, "end": end, "doc_hash": doc_hash})
        self._upsert(ids, vectors, metadatas, None)

    def delete_sentences(self, doc_ids: Sequence[str]) -> None:
        """Remove every sentence of these documents."""
        for start in range(0, len(doc_ids), 100):
            where = {"doc_id": {"$in": list(doc_ids[start : start + 100])}}
            self._call(lambda c: c.delete(where=where), name=self.sentences_name)  # noqa: B023

    def count_sentences(self) -> int:
        return self._call(lambda collection: int(collection.count()), name=self.sentences_name)

    def version(self) -> str:
        """The version of the index the server holds (set by the last ingest); IndexMissingError when none."""

        def read(_: Any) -> str | None:
            metadata = self._client().get_collection(self.name, embedding_function=None).metadata or {}
            return metadata.get("version")

        version = self._call(read, create=False)
        if not version:
            raise IndexMissingError(
                f"The Chroma server at {self.location} holds vectors for this corpus but not yet what app servers "
                "answer from (texts, sentence vectors, a version); run `assistant ingest` to add them."
            )
        return version

    def set_version(self, version: str) -> None:
        """Record the version of the index the server now holds: app servers follow it."""
        metadata = {"embedding_model": self.settings.embedding_model, "version": version}
        self._call(lambda collection: collection.modify(metadata=metadata))


_LOOKUP_ONLY = {"ef_construction": 16, "max_neighbors": 4}


def _metadata(info: ChunkInfo, doc_hash: str) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "doc_id": info.doc_id,
        "chunk_id": info.chunk_id,
        "title": info.title,
        "source": info.source,
        "start": info.start,
        "end": info.end,
        "doc_hash": doc_hash,
    }
    if info.date:
        metadata["date"] = info.date
        metadata["date_int"] = date_int(info.date)
    if info.tags:
        metadata["tags"] = list(info.tags)
    if info.url:
        metadata["url"] = info.url
    return metadata


def date_int(iso_date: str) -> int:
    """2025-07-01 -> 20250701: Chroma compares numbers, not strings."""
    return int(iso_date.replace("-", "")[:8])


def chroma_where(filters: Filters | None) -> dict[str, Any] | None:
    """The Chroma `where` clause for filters."""
    if not filters:
        return None
    clauses: list[dict[str, Any]] = []
    if filters.doc_ids:
        clauses.append({"doc_id": {"$in": list(filters.doc_ids)}})
    if filters.date_from:
        clauses.append({"date_int": {"$gte": date_int(filters.date_from)}})
    if filters.date_to:
        clauses.append({"date_int": {"$lte": date_int(filters.date_to)}})
    if filters.tags:
        tag_clauses = [{"tags": {"$contains": tag}} for tag in filters.tags]
        clauses.append(tag_clauses[0] if len(tag_clauses) == 1 else {"$or": tag_clauses})
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
