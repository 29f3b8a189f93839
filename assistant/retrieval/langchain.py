"""The hybrid retriever as a LangChain BaseRetriever.

Kept apart from hybrid.py so that answering a question does not import LangChain's retriever and
tracing stack: without it a fresh `assistant ask` went from 3.5-4.0 s to 2.7-2.9 s (bench/README.md).
`Assistant.retriever()` loads it on demand.
"""

from __future__ import annotations

import datetime as dt

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field

from assistant.limits import MAX_K, MIN_K, checked_k
from assistant.retrieval.hybrid import HybridSearch
from assistant.retrieval.query import make_query
from assistant.retrieval.timeframe import parse_date
from assistant.types import Filters, ScoredChunk, with_voices


class CorpusRetriever(BaseRetriever):
    """The hybrid retriever as a LangChain retriever: Documents with the chunk's metadata and scores.

    Drops into any LCEL chain or agent; `invoke`, `ainvoke` and `batch` come from BaseRetriever. As
    LangChain's standard retriever tests expect, `invoke(query, k=1)` (and `filters=...`, `as_of=...`)
    override the retriever's own k, filters and as-of date for that call; `voice=...` keeps that call to
    documents of a voice or side ("Russia", "Ukraine: government"), or of any of a list of them.
    """

    search: HybridSearch
    k: int = Field(default=5, ge=MIN_K, le=MAX_K)
    filters: Filters | None = None
    as_of: dt.date | None = None  # None: the day of each call
    voice: str | list[str] | None = None  # only documents of this voice or side (or any of these)

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filters: Filters | None = None,
        as_of: str | dt.date | None = None,
        voice: str | list[str] | None = None,
    ) -> list[LCDocument]:
        query_record = make_query(query, as_of=self.as_of if as_of is None else parse_date(as_of))
        k = checked_k(self.k if k is None else k)
        chosen = with_voices(self.filters if filters is None else filters, self.voice if voice is None else voice)
        results = self.search.search(query_record, k, chosen)
        return [to_langchain(result) for result in results]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        filters: Filters | None = None,
        as_of: str | dt.date | None = None,
        voice: str | list[str] | None = None,
    ) -> list[LCDocument]:
        # BaseRetriever's default runs the sync method in a thread but drops k and filters on the way.
        return await run_in_executor(
            None,
            self._get_relevant_documents,
            query,
            run_manager=run_manager.get_sync(),
            k=k,
            filters=filters,
            as_of=as_of,
            voice=voice,
        )


def to_langchain(result: ScoredChunk) -> LCDocument:
    """A retrieved chunk as a LangChain Document: its text, and its metadata with rank and scores."""
    metadata = result.chunk.metadata()
    metadata.update(
        score=result.score, rank=result.rank, dense_rank=result.dense_rank, lexical_rank=result.lexical_rank
    )
    return LCDocument(page_content=result.chunk.text, metadata=metadata, id=result.chunk.chunk_id)
