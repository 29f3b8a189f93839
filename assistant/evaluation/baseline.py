"""The plain LangChain pipeline that evaluations compare against (`assistant eval --retriever baseline`).

Chroma similarity search through langchain-chroma with the same embedding model and the same
collection, and the retrieved chunk's sentence closest to the question as the answer. No lexical
ranking, no aliases, no abstention; like every pipeline evaluated, it leaves out documents dated after
the question's as-of date (Chroma's own filter), but reads no time in the question.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np

from assistant.index.chroma import VectorStore, chroma_where
from assistant.index.embed import SentenceEmbeddings
from assistant.ingest.chunk import split_sentences
from assistant.retrieval.query import History
from assistant.types import Answer, ChunkInfo, Citation, ScoredChunk


class BaselinePipeline:
    """Dense top-k from Chroma via LangChain; the top chunk's best sentence as the answer."""

    def __init__(self, store: VectorStore, embeddings: SentenceEmbeddings) -> None:
        from langchain_chroma import Chroma

        self.embeddings = embeddings
        self.vectorstore = Chroma(client=store.client(), collection_name=store.name, embedding_function=embeddings)

    def retrieve(
        self, query: str, k: int, history: History | None = None, as_of: dt.date | None = None
    ) -> list[ScoredChunk]:
        # A plain pipeline: no history, no time read from the question; later documents are left out.
        found = self.vectorstore.similarity_search_with_score(query, k=k, filter=chroma_where(None, as_of))
        return [
            ScoredChunk(_chunk_info(document.page_content, document.metadata), 1.0 - float(distance), rank)
            for rank, (document, distance) in enumerate(found, start=1)
        ]

    def ask(self, question: str, history: History | None = None, k: int = 5, as_of: dt.date | None = None) -> Answer:
        started = time.perf_counter()
        passages = self.retrieve(question, k, as_of=as_of)
        retrieved_at = time.perf_counter()
        if not passages:
            return Answer(question, "", (), abstained=True, timings_ms=timings(started, retrieved_at))
        top = passages[0].chunk
        spans = split_sentences(top.text)
        vectors = self.embeddings.encode([top.text[s.start : s.end] for s in spans])
        best = spans[int(np.argmax(vectors @ self.embeddings.encode([question])[0]))]
        quote = top.text[best.start : best.end]
        citation = Citation.from_chunk(1, top, quote, top.start + best.start, top.start + best.end)
        return Answer(question, f"{quote} [1]", (citation,), False, tuple(passages), timings(started, retrieved_at))


def _chunk_info(text: str, metadata: dict[str, Any]) -> ChunkInfo:
    return ChunkInfo(
        chunk_id=str(metadata["chunk_id"]),
        doc_id=str(metadata["doc_id"]),
        text=text,
        start=int(metadata["start"]),
        end=int(metadata["end"]),
        title=str(metadata.get("title", "")),
        source=str(metadata.get("source", "")),
        date=metadata.get("date"),
        tags=tuple(metadata.get("tags") or ()),
        url=metadata.get("url"),
        voice=metadata.get("voice"),
        publisher=metadata.get("publisher"),
        license=metadata.get("license"),
    )


def timings(started: float, retrieved_at: float) -> dict[str, float]:
    """The timings of an answer retrieved from `started` to `retrieved_at`, answered until now."""
    return {"retrieve": (retrieved_at - started) * 1000, "answer": (time.perf_counter() - retrieved_at) * 1000}
