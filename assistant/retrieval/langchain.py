"""The hybrid retriever as a LangChain BaseRetriever.

Kept apart from hybrid.py so that answering a question does not import LangChain's retriever and
tracing stack: without it a fresh `assistant ask` went from 3.5-4.0 s to 2.7-2.9 s (bench/README.md).
`Assistant.retriever()` loads it on demand.
"""

from __future__ import annotations

import datetime as dt

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from assistant.retrieval.hybrid import HybridSearch
from assistant.retrieval.query import make_query
from assistant.types import Filters, ScoredChunk


class CorpusRetriever(BaseRetriever):
    """The hybrid retriever as a LangChain retriever: Documents with the chunk's metadata and scores.

    Drops into any LCEL chain or agent; `invoke`, `ainvoke` and `batch` come from BaseRetriever.
    """

    search: HybridSearch
    k: int = 5
    filters: Filters | None = None
    as_of: dt.date | None = None  # None: the day of each call

    model_config = ConfigDict(arbitrary_types_allowed=True)

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[LCDocument]:
        return [
            to_langchain(result)
            for result in self.search.search(make_query(query, as_of=self.as_of), self.k, self.filters)
        ]


def to_langchain(result: ScoredChunk) -> LCDocument:
    """A retrieved chunk as a LangChain Document: its text, and its metadata with rank and scores."""
    metadata = result.chunk.metadata()
    metadata.update(
        score=result.score, rank=result.rank, dense_rank=result.dense_rank, lexical_rank=result.lexical_rank
    )
    return LCDocument(page_content=result.chunk.text, metadata=metadata, id=result.chunk.chunk_id)
