"""The incremental sync of a corpus folder with its index.

Unchanged files are not even parsed; changed documents are re-chunked and re-embedded; documents whose
files are gone (or no longer readable) are removed. Then the Chroma collection is brought in step with
the catalog by chunk id, and the query-time snapshot is rebuilt when anything changed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from assistant.errors import CorpusError, IndexMissingError
from assistant.index.catalog import Catalog
from assistant.index.chroma import VectorStore
from assistant.index.embed import SentenceEmbeddings, embeddings_for
from assistant.index.snapshot import Snapshot, current_version, index_version, open_snapshot, passage_text
from assistant.index.snapshot_build import CatalogSource, build_snapshot
from assistant.ingest.chunk import chunk_document, split_sentences
from assistant.ingest.load import CorpusFile, load_file, scan_corpus
from assistant.settings import Settings
from assistant.types import ChunkInfo, Document, IngestReport

# progress(done, total, what): called as documents are embedded
Progress = Callable[[int, int, str], None]

_DOCUMENTS_PER_PASS = 16


@dataclass(frozen=True)
class _Planned:
    document: Document
    doc_hash: str
    is_update: bool


def document_hash(document: Document) -> str:
    """A hash of everything about a document that ends up in the index."""
    payload = [document.text, document.title, document.source, document.date, list(document.tags), document.url]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def open_catalog(settings: Settings) -> Catalog:
    return Catalog(settings.index_path() / "catalog.sqlite")


def ingest(
    settings: Settings,
    embeddings: SentenceEmbeddings | None = None,
    progress: Progress | None = None,
    store: VectorStore | None = None,
) -> IngestReport:
    """Bring the index of settings.corpus_dir up to date with the folder; returns what changed."""
    started = time.perf_counter()
    corpus = settings.corpus_dir
    if not corpus.is_dir():
        raise CorpusError(f"Corpus folder '{corpus}' does not exist; create it or set ASSISTANT_CORPUS_DIR.")
    files = scan_corpus(corpus)
    report = IngestReport(collection=settings.index_name())
    embeddings = embeddings or embeddings_for(settings)
    store = store or VectorStore(settings)
    catalog = open_catalog(settings)
    try:
        planned = _plan(catalog, files, report)
        if not files or (not planned and not catalog.count_documents()):
            detail = "has no files" if not files else "has no readable documents"
            raise CorpusError(
                f"Corpus folder '{corpus}' {detail}; add .txt, .md, .html, .pdf or .jsonl files and run ingest again."
            )
        # Each step commits on its own, so an interrupted ingest keeps what it embedded and the next run
        # goes on from there; every committed change bumps the generation, which the snapshot follows.
        with catalog.transaction():
            for doc_id in report.removed:
                report.chunks_removed += catalog.delete_document(doc_id)
            if report.removed:
                catalog.bump_generation()
        for first in range(0, len(planned), _DOCUMENTS_PER_PASS):
            group = planned[first : first + _DOCUMENTS_PER_PASS]
            if progress:
                progress(first, len(planned), group[0].document.doc_id)
            with catalog.transaction():
                report.chunks_added += _index_documents(catalog, group, settings, embeddings)
                catalog.bump_generation()
            for item in group:
                (report.updated if item.is_update else report.added).append(item.document.doc_id)
        if progress and planned:
            progress(len(planned), len(planned), "")
        with catalog.transaction():
            failed = _failed_sources(report)
            for file in files:
                catalog.set_file_hash(file.relative, None if file.relative in failed else file.sha256)
            for source in set(catalog.file_hashes()) - {file.relative for file in files}:
                catalog.set_file_hash(source, None)
        report.chunks_synced = _sync_store(catalog, store, settings.index_path())
        embeddings.export_for_queries()  # once per model: lets later processes embed questions without torch
        report.chunks_total = catalog.count_chunks()
        report.documents_total = catalog.count_documents()
    finally:
        catalog.close()
    report.seconds = time.perf_counter() - started
    return report


def _failed_sources(report: IngestReport) -> set[str]:
    return {failure.source.split(":", 1)[0] for failure in report.skipped}


def _plan(catalog: Catalog, files: list[CorpusFile], report: IngestReport) -> list[_Planned]:
    """Decide which documents to add, update and remove; parse only files whose bytes changed."""
    known_files = catalog.file_hashes()
    known_docs = catalog.document_hashes()
    docs_by_source: dict[str, list[str]] = defaultdict(list)
    for doc_id, (source, _) in known_docs.items():
        docs_by_source[source].append(doc_id)
    kept: set[str] = set()
    planned: list[_Planned] = []
    for file in files:
        if known_files.get(file.relative) == file.sha256:
            kept.update(docs_by_source[file.relative])
            report.unchanged += len(docs_by_source[file.relative])
            continue
        documents, failures = load_file(file)
        report.skipped.extend(failures)
        for document in documents:
            if document.doc_id in kept:
                continue  # two files map to one id (a.md and a.txt): the first one wins
            kept.add(document.doc_id)
            doc_hash = document_hash(document)
            previous = known_docs.get(document.doc_id)
            if previous and previous[1] == doc_hash:
                report.unchanged += 1
            else:
                planned.append(_Planned(document, doc_hash, is_update=previous is not None))
    report.removed.extend(sorted(set(known_docs) - kept))
    return planned


def _index_documents(
    catalog: Catalog, items: list[_Planned], settings: Settings, embeddings: SentenceEmbeddings
) -> int:
    """Chunk and embed a group of documents in one pass (fewer, fuller model batches); returns chunks added."""
    chunked = [chunk_document(item.document, settings.chunk_size, settings.chunk_overlap) for item in items]
    sentences = [split_sentences(item.document.text, max_chars=settings.chunk_size) for item in items]
    infos = [
        [
            ChunkInfo(c.chunk_id, c.doc_id, c.text, c.start, c.end, d.title, d.source, d.date, d.tags, d.url)
            for c in chunks
        ]
        for chunks, d in zip(chunked, (item.document for item in items), strict=True)
    ]
    chunk_vectors = embeddings.encode([passage_text(info) for group in infos for info in group])
    sentence_vectors = embeddings.encode(
        [item.document.text[s.start : s.end] for item, spans in zip(items, sentences, strict=True) for s in spans]
    )
    chunk_at = sentence_at = 0
    for item, chunks, spans in zip(items, chunked, sentences, strict=True):
        catalog.put_document(
            item.document,
            item.doc_hash,
            chunks,
            chunk_vectors[chunk_at : chunk_at + len(chunks)],
            spans,
            sentence_vectors[sentence_at : sentence_at + len(spans)],
        )
        chunk_at += len(chunks)
        sentence_at += len(spans)
    return chunk_at


def _sync_store(catalog: Catalog, store: VectorStore, root: Path) -> int:
    """Make the Chroma collection hold exactly the catalog's chunks (reusing the stored vectors) and the snapshot
    the catalog's documents; with a Chroma server, also the sentence vectors and the version app servers follow.

    Returns how many chunks were written to Chroma (more than were embedded when it was new or wiped)."""
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
    for start in range(0, len(missing), 2000):
        batch = list(catalog.iter_chunks(missing[start : start + 2000]))
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
    """Bring the server's sentence vectors in step with the snapshot for the changed documents (all when the
    counts disagree: a new server, or some went missing)."""
    if store.count_sentences() != len(snapshot.sentence_spans):
        changed = set(snapshot.doc_index) | {str(m.get("doc_id")) for _, m, _ in store.records(sentences=True)}
    ordered = sorted(changed)
    for first in range(0, len(ordered), 100):
        batch = ordered[first : first + 100]
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
