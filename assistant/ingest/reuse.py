"""Documents a Chroma server already holds: their vectors are taken from it instead of embedded again.

With a Chroma server, more than one machine indexes the same corpus folder: the one that runs `assistant
ingest`, and app servers that take uploads. A machine whose index folder is new (an app server's first
upload) would embed every document of the folder again, minutes to hours of work for vectors the server
already holds. A document whose hash the server holds, and whose chunks and sentences come out here as the
server has them, takes the server's vectors; anything else is embedded as usual.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from assistant.errors import IndexMissingError
from assistant.index.chroma import VectorStore
from assistant.ingest.chunk import sentences_and_chunks
from assistant.settings import Settings
from assistant.types import Chunk, Document, Span

_DOCUMENTS_PER_REQUEST = 100


@dataclass(frozen=True)
class ServerCopy:
    """A document with the vectors the server holds for it, as the catalog stores a document."""

    document: Document
    doc_hash: str
    chunks: list[Chunk]
    chunk_vectors: np.ndarray
    sentences: list[Span]
    sentence_vectors: np.ndarray


def server_copies(
    store: VectorStore, documents: Sequence[tuple[Document, str]], settings: Settings
) -> list[ServerCopy]:
    """The documents (each with its hash) whose every chunk and sentence vector the server holds for that hash."""
    copies: list[ServerCopy] = []
    for first in range(0, len(documents), _DOCUMENTS_PER_REQUEST):
        try:
            copies.extend(_batch(store, documents[first : first + _DOCUMENTS_PER_REQUEST], settings))
        except IndexMissingError:
            return []  # a new server: nothing to take
    return copies


def _batch(store: VectorStore, documents: Sequence[tuple[Document, str]], settings: Settings) -> list[ServerCopy]:
    held: dict[str, set[str]] = defaultdict(set)
    for _, metadata, _ in store.records(where={"doc_id": {"$in": [d.doc_id for d, _ in documents]}}):
        held[str(metadata.get("doc_id"))].add(str(metadata.get("doc_hash")))
    # Only a document the server holds in one version, this one, is taken.
    matching = [(document, doc_hash) for document, doc_hash in documents if held.get(document.doc_id) == {doc_hash}]
    if not matching:
        return []
    stored = store.sentences([document.doc_id for document, _ in matching])
    chunked = []
    for document, doc_hash in matching:
        spans, chunks = sentences_and_chunks(document, settings.chunk_size, settings.chunk_overlap)
        chunked.append((document, doc_hash, chunks, spans))
    vectors = store.vectors([chunk.chunk_id for _, _, chunks, _ in chunked for chunk in chunks])
    copies = []
    for document, doc_hash, chunks, spans in chunked:
        by_span = {
            (start, end): vector for start, end, held_hash, vector in stored[document.doc_id] if held_hash == doc_hash
        }
        # Chunk ids hold a digest of their text: the same ids mean the same chunks (same chunk settings).
        if not chunks or any(c.chunk_id not in vectors for c in chunks):
            continue
        if len(by_span) != len(spans) or any((span.start, span.end) not in by_span for span in spans):
            continue
        copies.append(
            ServerCopy(
                document,
                doc_hash,
                chunks,
                np.stack([vectors[c.chunk_id] for c in chunks]),
                spans,
                np.stack([by_span[(span.start, span.end)] for span in spans]).astype(np.float32),
            )
        )
    return copies
