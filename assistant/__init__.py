"""The conflict-corpus assistant: answers from a news corpus alone, with a citation on every claim.

    from assistant import Assistant, Settings
    assistant = Assistant(Settings(corpus_dir="corpus"))
    assistant.ingest()
    answer = assistant.ask("What are Russia's preconditions?")
    retriever = assistant.retriever(k=5)   # a LangChain BaseRetriever

Names load on first use, so importing the package (and `assistant --help`) stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "ABSTENTION_REPLY": "assistant.answer.base",
    "Answerer": "assistant.answer.base",
    "Answer": "assistant.types",
    "AnswerMode": "assistant.pipeline",
    "Assistant": "assistant.pipeline",
    "AssistantError": "assistant.errors",
    "BackendError": "assistant.errors",
    "ChunkInfo": "assistant.types",
    "Citation": "assistant.types",
    "CorpusError": "assistant.errors",
    "CorpusRetriever": "assistant.retrieval.langchain",
    "Document": "assistant.types",
    "Filters": "assistant.types",
    "IndexMissingError": "assistant.errors",
    "IndexStatus": "assistant.types",
    "IngestReport": "assistant.types",
    "ScoredChunk": "assistant.types",
    "SentenceEmbeddings": "assistant.index.embed",
    "Settings": "assistant.settings",
    "StorageError": "assistant.errors",
    "UsageError": "assistant.errors",
    "make_filters": "assistant.types",
}

__all__ = [
    "ABSTENTION_REPLY",
    "Answer",
    "AnswerMode",
    "Answerer",
    "Assistant",
    "AssistantError",
    "BackendError",
    "ChunkInfo",
    "Citation",
    "CorpusError",
    "CorpusRetriever",
    "Document",
    "Filters",
    "IndexMissingError",
    "IndexStatus",
    "IngestReport",
    "ScoredChunk",
    "SentenceEmbeddings",
    "Settings",
    "StorageError",
    "UsageError",
    "make_filters",
]

if TYPE_CHECKING:
    from assistant.answer.base import ABSTENTION_REPLY, Answerer
    from assistant.errors import (
        AssistantError,
        BackendError,
        CorpusError,
        IndexMissingError,
        StorageError,
        UsageError,
    )
    from assistant.index.embed import SentenceEmbeddings
    from assistant.pipeline import AnswerMode, Assistant
    from assistant.retrieval.langchain import CorpusRetriever
    from assistant.settings import Settings
    from assistant.types import (
        Answer,
        ChunkInfo,
        Citation,
        Document,
        Filters,
        IndexStatus,
        IngestReport,
        ScoredChunk,
        make_filters,
    )


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'assistant' has no attribute '{name}'")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
