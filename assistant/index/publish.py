"""The index's upkeep: its catalog, opened one way, and what questions are answered from kept in step with it.

Ingest writes documents into the catalog (catalog.py). `publish` then brings the rest of the index in step:
the Chroma collection holds exactly the catalog's chunks, the query-time snapshot (snapshot.py) its documents,
and with a Chroma server, the server holds their sentence vectors and the version app servers follow
(mirror.py). `index_status` says what a published snapshot holds.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from assistant.errors import IndexMissingError
from assistant.index.catalog import Catalog
from assistant.index.chroma import VectorStore
from assistant.index.embed import SentenceEmbeddings, drop_old_exports
from assistant.index.snapshot import Snapshot, current_version, index_version, open_snapshot
from assistant.index.snapshot_build import CatalogSource, build_snapshot
from assistant.settings import Settings
from assistant.types import IndexStatus

_CHUNKS_PER_WRITE = 2000
_DOCUMENTS_PER_WRITE = 100


def catalog_path(settings: Settings) -> Path:
    """Where the catalog of the index the settings name is (or will be)."""
    return settings.index_path() / "catalog.sqlite"


def open_catalog(settings: Settings) -> Catalog:
    """The catalog of the index the settings name (an empty one when there is none yet); close it after use."""
    return Catalog(catalog_path(settings))


def publish(catalog: Catalog, store: VectorStore, settings: Settings, embeddings: SentenceEmbeddings) -> int:
    """Make the Chroma collection hold exactly the catalog's chunks (reusing the stored vectors) and the snapshot
    the catalog's documents; with a Chroma server, also the sentence vectors and the version app servers follow.
    Then make the export questions are embedded with (once per user and model: later processes embed questions
    without torch).

    Returns how many chunks were written to Chroma (more than were embedded when it was new or wiped)."""
    written = _sync_store(catalog, store, settings.index_path())
    embeddings.export_onnx()
    drop_old_exports(settings.index_dir)  # index folders kept their own export before the per-user cache
    return written


def index_status(settings: Settings, snapshot: Snapshot) -> IndexStatus:
    """What a snapshot of the index the settings name holds."""
    dates = snapshot.dates()
    return IndexStatus(
        collection=settings.index_name(),
        version=snapshot.version,
        documents=len(snapshot.documents),
        chunks=len(snapshot.chunks),
        first_date=dates[0] if dates else None,
        last_date=dates[-1] if dates else None,
        vector_store="chroma-server" if settings.chroma_url else "embedded",
    )


def _sync_store(catalog: Catalog, store: VectorStore, root: Path) -> int:
    """The Chroma collection and the snapshot in step with the catalog; returns the chunks written to Chroma."""
    wanted = catalog.chunk_hashes()
    present = {
        chunk_id: (str(m.get("doc_id")), str(m.get("doc_hash"))) for chunk_id, m, _ in store.records(create=True)
    }
    source = CatalogSource(catalog)
    documents = source.document_hashes()
    version = index_version(documents)
    if store.is_server:
        # The sentences first and the version last: an ingest cut short anywhere is finished by the next one,
        # which still finds the documents' chunks out of date, and app servers follow only a finished one.
        in_chroma: dict[str, set[str]] = defaultdict(set)
        for doc_id, doc_hash in present.values():
            in_chroma[doc_id].add(doc_hash)
        changed = {doc_id for doc_id, doc_hash in documents.items() if in_chroma.get(doc_id) != {doc_hash}}
        _send_sentences(store, _snapshot(source, root, version), changed | (in_chroma.keys() - documents.keys()))
    store.delete(chunk_id for chunk_id, (_, doc_hash) in present.items() if wanted.get(chunk_id) != doc_hash)
    missing = [chunk_id for chunk_id, doc_hash in wanted.items() if present.get(chunk_id, ("", ""))[1] != doc_hash]
    for start in range(0, len(missing), _CHUNKS_PER_WRITE):
        batch = list(catalog.iter_chunks(missing[start : start + _CHUNKS_PER_WRITE]))
        store.add([(stored.info, np.asarray(stored.vector), stored.doc_hash) for stored in batch])
    if store.is_server:
        _announce(store, version)
    else:
        _snapshot(source, root, version)  # after the vectors: a process that follows it finds its new chunks in Chroma
    return len(missing)


def _snapshot(source: CatalogSource, root: Path, version: str) -> Snapshot:
    """The snapshot of this version: the current one, unless it is older, missing or damaged."""
    if current_version(root) == version:
        return open_snapshot(root)
    return build_snapshot(source, root, version)


def _send_sentences(store: VectorStore, snapshot: Snapshot, changed: set[str]) -> None:
    """Bring the server's sentence vectors in step with the snapshot: those of the changed documents, then, when
    the server's count still disagrees (a new server, or some went missing), those of every document."""
    _put_sentences(store, snapshot, changed)
    if store.count_sentences() != len(snapshot.sentence_spans):
        _put_sentences(
            store,
            snapshot,
            set(snapshot.doc_index) | {str(m.get("doc_id")) for _, m, _ in store.records(sentences=True)},
        )


def _put_sentences(store: VectorStore, snapshot: Snapshot, doc_ids: set[str]) -> None:
    """Replace the server's sentence vectors of these documents with the snapshot's (none for a document it lacks)."""
    ordered = sorted(doc_ids)
    for first in range(0, len(ordered), _DOCUMENTS_PER_WRITE):
        batch = ordered[first : first + _DOCUMENTS_PER_WRITE]
        store.delete_sentences(batch)
        records = []
        for doc_id in batch:
            index = snapshot.doc_index.get(doc_id)
            if index is not None:
                rows = slice(int(snapshot.doc_sentences[index]), int(snapshot.doc_sentences[index + 1]))
                doc_hash = snapshot.documents[index].doc_hash
                records.append((doc_id, doc_hash, snapshot.sentence_spans[rows], snapshot.sentence_vectors[rows]))
        store.put_sentences(records)


def _announce(store: VectorStore, version: str) -> None:
    """Record the version on the server, unless it is there already."""
    try:
        published = store.version()
    except IndexMissingError:
        published = None
    if published != version:
        store.set_version(version)
