"""Plain BM25 over whole documents, the keyword floor evaluations compare against (`--retriever bm25`).

Each document (title and text) is one unit of Okapi BM25 (k1 1.2, b 0.75) with the project's tokenizer,
the question as the query: no aliases, no embeddings, no history, no time read from the question; documents
dated after the question's as-of date are left out, as in every pipeline evaluated (undated ones stay).
Its answer is the sentence of the top document that holds the most of the question's words, cited; it
never abstains.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from assistant.evaluation.baseline import timings
from assistant.index.catalog import Catalog
from assistant.index.lexical import BM25Builder, tokenize
from assistant.ingest.chunk import split_sentences
from assistant.types import Answer, ChunkInfo, Citation, Document, ScoredChunk


class DocumentBM25Pipeline:
    """Whole documents ranked by BM25; the top document's sentence with most question words as the answer."""

    def __init__(self, catalog: Catalog) -> None:
        self.documents: list[Document] = list(catalog.iter_documents())
        builder = BM25Builder()
        for document in self.documents:
            builder.add_tokens(tokenize(f"{document.title}\n{document.text}"))
        self.index = builder.build()
        self.chunks: dict[str, list[ChunkInfo]] = {}
        for stored in catalog.iter_chunks():
            self.chunks.setdefault(stored.info.doc_id, []).append(stored.info)

    def retrieve(self, query: str, k: int, history: Any = None, as_of: dt.date | None = None) -> list[ScoredChunk]:
        scores = self.index.scores(dict.fromkeys(tokenize(query), 1.0))
        if as_of is not None:
            cutoff = as_of.isoformat()
            scores[[i for i, d in enumerate(self.documents) if d.date and d.date > cutoff]] = 0.0
        best = [int(i) for i in scores.argsort()[::-1][:k] if scores[i] > 0]
        return [ScoredChunk(_whole(self.documents[i]), float(scores[i]), rank) for rank, i in enumerate(best, 1)]

    def ask(self, question: str, history: Any = None, k: int = 5, as_of: dt.date | None = None) -> Answer:
        started = time.perf_counter()
        passages = self.retrieve(question, k, as_of=as_of)
        retrieved_at = time.perf_counter()
        if not passages:
            return Answer(question, "", (), abstained=True, timings_ms=timings(started, retrieved_at))
        top = passages[0].chunk
        wanted = set(tokenize(question))
        best = max(split_sentences(top.text), key=lambda s: len(wanted & set(tokenize(top.text[s.start : s.end]))))
        quote = top.text[best.start : best.end]
        # Cited as the index's chunk that holds the sentence, so its citation checks like any other.
        chunk = next((c for c in self.chunks.get(top.doc_id, []) if c.start <= best.start and best.end <= c.end), top)
        citation = Citation.from_chunk(1, chunk, quote, best.start, best.end)
        return Answer(question, f"{quote} [1]", (citation,), False, tuple(passages), timings(started, retrieved_at))


def _whole(document: Document) -> ChunkInfo:
    return ChunkInfo(
        f"{document.doc_id}#all",
        document.doc_id,
        document.text,
        0,
        len(document.text),
        document.title,
        document.source,
        document.date,
        document.tags,
        document.url,
        document.voice,
        document.publisher,
        document.license,
    )
