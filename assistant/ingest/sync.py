"""The incremental sync of a corpus folder with its index.

Unchanged files are not even parsed; changed documents are re-chunked and re-embedded; documents whose
files are gone (or no longer readable) are removed, all in the index's catalog. Then the index publishes
it (index/publish.py): the Chroma collection is brought in step with the catalog by chunk id, and the
query-time snapshot is rebuilt when anything changed.

Each document goes through the encoder once, as token windows (index/windows.py) that give both its
sentence and its chunk vectors. Documents are written in groups, one transaction each; the windows of
a long document are committed as they are embedded, so an interrupted run goes on where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from assistant.errors import AssistantError, CorpusError, storage_error
from assistant.index.catalog import Catalog
from assistant.index.chroma import VectorStore
from assistant.index.embed import SentenceEmbeddings
from assistant.index.embed_providers import embeddings_for
from assistant.index.publish import open_catalog, publish
from assistant.index.snapshot import passage_text
from assistant.index.windows import TokenEncoder, WindowStates, encode_windows, plan_windows, pool
from assistant.ingest.chunk import sentences_and_chunks
from assistant.ingest.load import CorpusFile, file_type_names, load_file, scan_corpus
from assistant.ingest.pending import recover_uploads
from assistant.ingest.reuse import server_copies
from assistant.settings import Settings
from assistant.types import Chunk, ChunkInfo, Document, IngestReport, LoadFailure, Span

# progress(done, total, what): characters of document text embedded so far, of all to embed
Progress = Callable[[int, int, str], None]

# The corpus folder's list of sources to fetch from (assistant/sources/): configuration, not a document.
SOURCES_FILE = "sources.toml"
DOCUMENTS_PER_PASS = 16  # documents embedded and written in one transaction
WINDOWS_PER_COMMIT = 256  # about 250 kB of text: a minute of work at most on two cores


@dataclass(frozen=True)
class _Planned:
    document: Document
    doc_hash: str
    is_update: bool


def document_hash(document: Document) -> str:
    """A hash of everything about a document that ends up in the index."""
    payload = [document.text, document.title, document.source, document.date, list(document.tags), document.url]
    if document.voice or document.publisher or document.license:  # so documents without them keep their hash
        payload += [document.voice, document.publisher, document.license]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def ingest(
    settings: Settings,
    embeddings: SentenceEmbeddings | None = None,
    progress: Progress | None = None,
    store: VectorStore | None = None,
) -> IngestReport:
    """Bring the index of settings.corpus_dir up to date with the folder; returns what changed.

    StorageError when the index folder's disk is full or it cannot be written: what was committed stays, and
    the next run goes on from there."""
    try:
        return _ingest(settings, embeddings, progress, store)
    except AssistantError:
        raise
    except Exception as exc:
        problem = storage_error(exc, settings.index_dir)
        if problem is None:
            raise
        raise problem from exc


def _ingest(
    settings: Settings,
    embeddings: SentenceEmbeddings | None,
    progress: Progress | None,
    store: VectorStore | None,
) -> IngestReport:
    started = time.perf_counter()
    corpus = settings.corpus_dir
    if not corpus.is_dir():
        raise CorpusError(f"Corpus folder '{corpus}' does not exist; create it or set ASSISTANT_CORPUS_DIR.")
    recover_uploads(corpus / settings.uploads_subdir)  # uploads whose process died before they were indexed
    files = [file for file in scan_corpus(corpus) if file.relative != SOURCES_FILE]
    report = IngestReport(collection=settings.index_name())
    embeddings = embeddings or embeddings_for(settings)
    store = store or VectorStore(settings)
    catalog = open_catalog(settings)
    try:
        planned = _plan(catalog, files, report)
        if not files or (not planned and not catalog.count_documents()):
            detail = "has no files" if not files else "has no readable documents"
            raise CorpusError(f"Corpus folder '{corpus}' {detail}; add {file_type_names()} files and run ingest again.")
        # Each step commits on its own, so an interrupted ingest keeps what it embedded and the next run
        # goes on from there; every committed change bumps the generation, which the snapshot follows.
        with catalog.transaction():
            for doc_id in report.removed:
                report.chunks_removed += catalog.delete_document(doc_id)
            if report.removed:
                catalog.bump_generation()
        if store.is_server and planned:
            planned = _take_server_copies(catalog, store, planned, settings, report)
        encoder = embeddings.token_encoder() if planned else None  # exports the model once, when it can be
        advance = _Advance(progress, sum(len(item.document.text) for item in planned))
        for first in range(0, len(planned), DOCUMENTS_PER_PASS):
            group = planned[first : first + DOCUMENTS_PER_PASS]
            report.chunks_added += _index_documents(catalog, group, settings, embeddings, encoder, advance)
            for item in group:
                (report.updated if item.is_update else report.added).append(item.document.doc_id)
        advance.finish()
        with catalog.transaction():
            failed = _failed_sources(report)
            for file in files:
                catalog.set_file_hash(file.relative, None if file.relative in failed else file.sha256)
            for source in set(catalog.file_hashes()) - {file.relative for file in files}:
                catalog.set_file_hash(source, None)
        report.chunks_synced = publish(catalog, store, settings, embeddings)
        report.chunks_total = catalog.count_chunks()
        report.documents_total = catalog.count_documents()
    finally:
        catalog.close()
    report.seconds = time.perf_counter() - started
    return report


def _take_server_copies(
    catalog: Catalog, store: VectorStore, planned: list[_Planned], settings: Settings, report: IngestReport
) -> list[_Planned]:
    """Write the planned documents that the Chroma server already holds, with its vectors (another machine
    embedded them: reuse.py); returns the others, to embed. The index does not change for those taken."""
    copies = server_copies(store, [(item.document, item.doc_hash) for item in planned], settings)
    if not copies:
        return planned
    with catalog.transaction():
        for copy in copies:
            catalog.put_document(
                copy.document, copy.doc_hash, copy.chunks, copy.chunk_vectors, copy.sentences, copy.sentence_vectors
            )
        catalog.bump_generation()
    report.unchanged += len(copies)
    taken = {copy.document.doc_id for copy in copies}
    return [item for item in planned if item.document.doc_id not in taken]


def _failed_sources(report: IngestReport) -> set[str]:
    return {failure.source.split(":", 1)[0] for failure in report.skipped}


def _plan(catalog: Catalog, files: list[CorpusFile], report: IngestReport) -> list[_Planned]:
    """Decide which documents to add, update and remove; parse only files whose bytes changed.

    One id, one document: when two files give the same document id (same.md and same.txt), the first in
    path order is indexed and the other is reported as skipped, with the reason. A skipped file is read
    again on every ingest, so it is indexed once the clash is gone.
    """
    known_files = catalog.file_hashes()
    known_docs = catalog.document_hashes()
    docs_by_source: dict[str, list[str]] = defaultdict(list)
    for doc_id, (source, _) in known_docs.items():
        docs_by_source[source].append(doc_id)
    owner: dict[str, str] = {}  # doc_id -> the file that gives it
    planned: list[_Planned] = []
    for file in files:
        if known_files.get(file.relative) == file.sha256:
            for doc_id in docs_by_source[file.relative]:
                if _claim(owner, doc_id, file.relative, report):
                    report.unchanged += 1
            continue
        documents, failures = load_file(file)
        report.skipped.extend(failures)
        for document in documents:
            if not _claim(owner, document.doc_id, file.relative, report):
                continue
            report.warnings.extend(document.warnings)
            doc_hash = document_hash(document)
            previous = known_docs.get(document.doc_id)
            if previous and previous[1] == doc_hash:
                report.unchanged += 1
            else:
                planned.append(_Planned(document, doc_hash, is_update=previous is not None))
    report.removed.extend(sorted(set(known_docs) - set(owner)))
    return planned


def _claim(owner: dict[str, str], doc_id: str, source: str, report: IngestReport) -> bool:
    """Give doc_id to source unless an earlier file has it; a clash is reported as a skipped file."""
    first = owner.setdefault(doc_id, source)
    if first != source:
        report.skipped.append(
            LoadFailure(
                source,
                f"gives the document id '{doc_id}' that {first} already gives (an id is the path without its "
                f"extension); only {first} is indexed: rename one of them to index both",
            )
        )
    return first == source


class _Advance:
    """Reports progress in characters of document text embedded, so that a large file shows it too."""

    def __init__(self, progress: Progress | None, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def __call__(self, chars: int, what: str) -> None:
        self.done = min(self.total, self.done + chars)
        if self.progress:
            self.progress(self.done, self.total, what)

    def finish(self) -> None:
        if self.progress and self.total:
            self.progress(self.total, self.total, "")


def _index_documents(
    catalog: Catalog,
    items: list[_Planned],
    settings: Settings,
    embeddings: SentenceEmbeddings,
    encoder: TokenEncoder | None,
    advance: _Advance,
) -> int:
    """Chunk and embed a group of documents and write them in one transaction; returns chunks added."""
    split = [sentences_and_chunks(item.document, settings.chunk_size, settings.chunk_overlap) for item in items]
    sentences = [spans for spans, _ in split]
    chunked = [chunks for _, chunks in split]
    windows: list[str] = []
    if encoder is None:
        vectors = _encode_texts(items, chunked, sentences, embeddings)
        advance(sum(len(item.document.text) for item in items), items[-1].document.doc_id)
    else:
        vectors, windows = _encode_windows(
            catalog, items, chunked, sentences, encoder, settings.embed_batch_size, advance
        )
    with catalog.transaction():
        for item, chunks, spans, (chunk_vectors, vectors_of_sentences) in zip(
            items, chunked, sentences, vectors, strict=True
        ):
            catalog.put_document(item.document, item.doc_hash, chunks, chunk_vectors, spans, vectors_of_sentences)
        catalog.drop_windows(windows)
        catalog.bump_generation()
    return sum(len(chunks) for chunks in chunked)


_Vectors = list[tuple[np.ndarray, np.ndarray]]  # (chunk vectors, sentence vectors) of each document


def _encode_windows(
    catalog: Catalog,
    items: list[_Planned],
    chunked: list[list[Chunk]],
    sentences: list[list[Span]],
    encoder: TokenEncoder,
    batch_size: int,
    advance: _Advance,
) -> tuple[_Vectors, list[str]]:
    """One encoder pass over each document's token windows (windows.py); also returns the windows' keys.

    Windows are committed to the catalog as they are embedded, every WINDOWS_PER_COMMIT of them, so a
    long document interrupted half way is taken up where it stopped, not from its start."""
    plans = [
        plan_windows(encoder, item.document.title, [item.document.text[s.start : s.end] for s in spans])
        for item, spans in zip(items, sentences, strict=True)
    ]
    states = catalog.windows([window.key for plan in plans for window in plan])
    chars = {
        window.key: spans[window.sentences.stop - 1].end - spans[window.sentences.start].start
        for plan, spans in zip(plans, sentences, strict=True)
        for window in plan
    }
    advance(sum(chars[key] for key in states), items[0].document.doc_id)
    todo = list({window.key: window for plan in plans for window in plan if window.key not in states}.values())
    pending: dict[str, WindowStates] = {}
    for batch in encode_windows(encoder, todo, batch_size):
        pending.update((window.key, state) for window, state in batch)
        if len(pending) >= WINDOWS_PER_COMMIT and len(todo) > WINDOWS_PER_COMMIT:
            with catalog.transaction():
                catalog.put_windows(pending)
            states.update(pending)
            pending = {}
        advance(sum(chars[window.key] for window, _ in batch), items[-1].document.doc_id)
    states.update(pending)
    vectors: _Vectors = []
    for plan, chunks, spans in zip(plans, chunked, sentences, strict=True):
        index_of = {span.start: number for number, span in enumerate(spans)}
        ranges = [range(index_of[c.sentences[0].start], index_of[c.sentences[-1].start] + 1) for c in chunks]
        sentence_vectors, chunk_vectors = pool(plan, states, ranges, len(spans))
        vectors.append((chunk_vectors, sentence_vectors))
    return vectors, list(chars)


def _encode_texts(
    items: list[_Planned], chunked: list[list[Chunk]], sentences: list[list[Span]], embeddings: SentenceEmbeddings
) -> _Vectors:
    """Chunk texts (with their title) and sentence texts embedded apart: for models whose vectors are not
    a mean over their tokens, which windows cannot give."""
    passages = [
        passage_text(ChunkInfo(c.chunk_id, c.doc_id, c.text, c.start, c.end, item.document.title, item.document.source))
        for item, chunks in zip(items, chunked, strict=True)
        for c in chunks
    ]
    chunk_vectors = embeddings.encode(passages)
    sentence_vectors = embeddings.encode(
        [item.document.text[s.start : s.end] for item, spans in zip(items, sentences, strict=True) for s in spans]
    )
    vectors: _Vectors = []
    chunk_at = sentence_at = 0
    for chunks, spans in zip(chunked, sentences, strict=True):
        vectors.append(
            (
                chunk_vectors[chunk_at : chunk_at + len(chunks)],
                sentence_vectors[sentence_at : sentence_at + len(spans)],
            )
        )
        chunk_at += len(chunks)
        sentence_at += len(spans)
    return vectors
