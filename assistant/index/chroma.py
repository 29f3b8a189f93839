"""Chunk vectors in Chroma: the embedded persistent store, or a Chroma server given by URL.

chromadb is imported in this module only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar
from urllib.parse import urlparse

import numpy as np

from assistant.errors import BackendError, IndexMissingError, UsageError
from assistant.settings import Settings
from assistant.types import ChunkInfo, Filters

_T = TypeVar("_T")


class VectorStore:
    """One Chroma collection of chunk vectors, named after the settings that shape them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name = settings.index_name()
        self._collection: Any = None

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir / "chroma")

    def client(self) -> Any:
        """A chromadb client for this store (what langchain-chroma's `Chroma(client=...)` takes)."""
        self.count()  # connects and makes the collection, or raises a clear BackendError
        return self._client()

    def _client(self) -> Any:
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

    def _open(self, create: bool) -> Any:
        if self._collection is None:
            client = self._client()
            if create:
                self._collection = client.get_or_create_collection(
                    self.name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embedding_model": self.settings.embedding_model},
                )
            else:
                self._collection = client.get_collection(self.name, embedding_function=None)
        return self._collection

    def _call(self, action: Callable[[Any], _T], create: bool = True) -> _T:
        """Run an action on the collection; a failure of the store becomes one clear BackendError.

        create=False (queries): a missing collection is an IndexMissingError, not a new empty one, so a
        wiped or new Chroma server is reported instead of silently answering from the lexical index alone.
        """
        from chromadb.errors import NotFoundError

        try:
            try:
                return action(self._open(create))
            except NotFoundError:
                # The collection was deleted since this handle was opened (a wiped or restarted server): reopen once.
                self._collection = None
                return action(self._open(create))
        except (UsageError, IndexMissingError):
            raise
        except NotFoundError as exc:
            self._collection = None
            raise IndexMissingError(self._missing()) from exc
        except Exception as exc:
            self._collection = None  # reconnect on the next call: the server may be back
            detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            if self.settings.chroma_url:
                hint = (
                    "check that the server is running (`chroma run --host 127.0.0.1 --port 8000`) "
                    "or unset ASSISTANT_CHROMA_URL"
                )
            else:
                hint = f"check that the folder {self.location} is writable and not in use by another version of Chroma"
            raise BackendError(f"Chroma at {self.location} failed ({detail}); {hint}.") from exc

    def _missing(self) -> str:
        where = f"The Chroma {'server at' if self.settings.chroma_url else 'store in'} {self.location}"
        return (
            f"{where} holds no vectors for this corpus (collection {self.name}); "
            "run `assistant ingest` to fill it from the local catalog."
        )

    def doc_hashes(self) -> dict[str, str]:
        """chunk_id -> doc_hash of every chunk in the collection."""

        def read(collection: Any) -> dict[str, str]:
            hashes: dict[str, str] = {}
            page = 5000
            offset = 0
            while True:
                got = collection.get(include=["metadatas"], limit=page, offset=offset)
                for chunk_id, metadata in zip(got["ids"], got["metadatas"], strict=True):
                    hashes[chunk_id] = str((metadata or {}).get("doc_hash", ""))
                if len(got["ids"]) < page:
                    return hashes
                offset += page

        return self._call(read)

    def add(self, records: Sequence[tuple[ChunkInfo, np.ndarray, str]]) -> None:
        """Add (or replace) chunks with their vectors; each record is (chunk, vector, doc_hash)."""

        def write(collection: Any) -> None:
            batch = 1000
            for start in range(0, len(records), batch):
                part = records[start : start + batch]
                collection.upsert(
                    ids=[info.chunk_id for info, _, _ in part],
                    embeddings=np.stack([vector for _, vector, _ in part]),
                    documents=[info.text for info, _, _ in part],
                    metadatas=[_metadata(info, doc_hash) for info, _, doc_hash in part],
                )

        if records:
            self._call(write)

    def delete(self, chunk_ids: Iterable[str]) -> None:
        ids = list(chunk_ids)

        def remove(collection: Any) -> None:
            for start in range(0, len(ids), 1000):
                collection.delete(ids=ids[start : start + 1000])

        if ids:
            self._call(remove)

    def count(self) -> int:
        return self._call(lambda collection: int(collection.count()))

    def query(
        self, vector: np.ndarray, n: int, filters: Filters | None = None, as_of: dt.date | None = None
    ) -> list[tuple[str, float]]:
        """The n nearest chunks as (chunk_id, cosine similarity), best first; none dated after as_of."""
        where = chroma_where(filters, as_of)

        def search(collection: Any) -> list[tuple[str, float]]:
            got = collection.query(query_embeddings=[vector], n_results=n, where=where, include=["distances"])
            if not got["ids"][0] and where is None and n > 0 and not collection.count():
                raise IndexMissingError(self._missing())  # an emptied collection: the same as a missing one
            pairs = zip(got["ids"][0], got["distances"][0], strict=True)
            return [(chunk_id, 1.0 - float(distance)) for chunk_id, distance in pairs]

        return self._call(search, create=False)


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
    # Undated chunks hold date_int 0: an as-of cutoff lets them through, a date range does not.
    metadata["date_int"] = date_int(info.date) if info.date else 0
    if info.date:
        metadata["date"] = info.date
    if info.tags:
        metadata["tags"] = list(info.tags)
    if info.url:
        metadata["url"] = info.url
    return metadata


def date_int(iso_date: str) -> int:
    """2025-07-01 -> 20250701: Chroma compares numbers, not strings."""
    return int(iso_date.replace("-", "")[:8])


def chroma_where(filters: Filters | None, as_of: dt.date | None = None) -> dict[str, Any] | None:
    """The Chroma `where` clause for filters and an as-of date (undated documents pass the latter)."""
    clauses: list[dict[str, Any]] = []
    if as_of is not None:
        clauses.append({"date_int": {"$lte": date_int(as_of.isoformat())}})
    if not filters:
        return clauses[0] if clauses else None
    if filters.doc_ids:
        clauses.append({"doc_id": {"$in": list(filters.doc_ids)}})
    if filters.date_from:
        clauses.append({"date_int": {"$gte": date_int(filters.date_from)}})
    if filters.date_to:
        clauses.append({"date_int": {"$lte": date_int(filters.date_to)}})
        clauses.append({"date_int": {"$gt": 0}})
    if filters.tags:
        tag_clauses = [{"tags": {"$contains": tag}} for tag in filters.tags]
        clauses.append(tag_clauses[0] if len(tag_clauses) == 1 else {"$or": tag_clauses})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
