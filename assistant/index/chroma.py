"""The index in Chroma: chunk vectors, in the embedded persistent store or on a Chroma server given by URL.

With a server, it also holds what app servers need to answer without any local state: every chunk's text
and metadata (in the chunk collection), the sentence vectors (a second collection), and the version of the
index (collection metadata) that app servers compare their local copy with. Connecting and errors are in
chroma_connection.py; chromadb is imported in these two modules only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from assistant.errors import IndexMissingError
from assistant.index.chroma_connection import ChromaConnection
from assistant.types import ChunkInfo, Filters, voice_keys

PAGE = 5000  # records a read asks Chroma for at once
_BATCH = 1000  # records a write sends at once


class VectorStore(ChromaConnection):
    """The index's vectors in Chroma: chunk vectors with their texts and metadata and, with a server, what app
    servers need besides (sentence vectors, the index's version)."""

    def doc_hashes(self) -> dict[str, str]:
        """chunk_id -> doc_hash of every chunk in the collection."""
        return {chunk_id: str(metadata.get("doc_hash", "")) for chunk_id, metadata, _ in self.records(create=True)}

    def sources(self) -> set[str]:
        """The files the collection holds chunks of (their `source`); empty when there is no collection yet."""
        try:
            return {str(metadata.get("source", "")) for _, metadata, _ in self.records()}
        except IndexMissingError:
            return set()

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
        self,
        ids: list[str],
        vectors: Sequence[np.ndarray],
        metadatas: list[dict[str, Any]],
        texts: list[str] | None,
        collection_name: str | None = None,
    ) -> None:
        """Write records in batches into the chunk collection (default) or the one named."""

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
            self._call(write, name=collection_name)

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
        self,
        vector: np.ndarray,
        n: int,
        filters: Filters | None = None,
        ids: list[str] | None = None,
        as_of: dt.date | None = None,
    ) -> list[tuple[str, float]]:
        """The n nearest chunks as (chunk_id, cosine similarity), best first; only those that pass the filters
        and the as-of date, or only among ids when given."""
        where = chroma_where(filters, as_of)
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
        self._upsert(ids, vectors, metadatas, None, self.sentences_name)

    def sentences(self, doc_ids: Sequence[str]) -> dict[str, list[tuple[int, int, str, np.ndarray]]]:
        """doc_id -> its stored sentences as (start, end, doc_hash, vector), in no particular order."""
        found: dict[str, list[tuple[int, int, str, np.ndarray]]] = {doc_id: [] for doc_id in doc_ids}
        where = {"doc_id": {"$in": list(doc_ids)}}
        for _, metadata, vector in self.records(["embeddings"], where, sentences=True):
            found.setdefault(str(metadata["doc_id"]), []).append(
                (int(metadata["start"]), int(metadata["end"]), str(metadata.get("doc_hash", "")), np.asarray(vector))
            )
        return found

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
    for name in ("voice", "publisher", "license"):
        if getattr(info, name):
            metadata[name] = getattr(info, name)
    if info.voice:
        metadata["voice_keys"] = list(voice_keys(info.voice))
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
    if filters.voices:
        keys = sorted({key for voice in filters.voices for key in voice_keys(voice)[:1]})
        voice_clauses = [{"voice_keys": {"$contains": key}} for key in keys]
        clauses.append(voice_clauses[0] if len(voice_clauses) == 1 else {"$or": voice_clauses})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
