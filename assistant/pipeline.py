"""The assistant as one object: ingest, retrieve and ask over the index that the settings name."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from assistant.answer.extractive import ABSTENTION_REPLY, cite, select
from assistant.errors import UsageError
from assistant.index.chroma import VectorStore
from assistant.index.embed import embeddings_for
from assistant.index.snapshot import Snapshot
from assistant.ingest.sync import Progress, ingest
from assistant.ingest.upload import StoredUpload, add_document
from assistant.retrieval.hybrid import HybridSearch
from assistant.retrieval.query import History, Query, make_query
from assistant.settings import Settings
from assistant.types import Answer, Filters, IngestReport, ScoredChunk

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from assistant.answer.chat import ChatAnswerer
    from assistant.retrieval.langchain import CorpusRetriever

AnswerMode = Literal["extractive", "chat"]
MAX_QUESTION_CHARS = 2000
MAX_K = 50


class Assistant:
    """Answers questions from one corpus. Models and the index load on first use and stay loaded."""

    def __init__(self, settings: Settings | None = None, chat_model: BaseChatModel | None = None) -> None:
        """chat_model: any LangChain chat model to answer with, instead of the one ASSISTANT_LLM names."""
        self.settings = settings or Settings()
        self.embeddings = embeddings_for(self.settings)
        self.store = VectorStore(self.settings)
        self.search = HybridSearch(self.settings, self.embeddings, self.store)
        self._chat_answerer: ChatAnswerer | None = None
        if chat_model is not None:
            from assistant.answer.chat import ChatAnswerer

            self._chat_answerer = ChatAnswerer(chat_model)
        self._ingesting = threading.Lock()

    def ingest(self, progress: Progress | None = None) -> IngestReport:
        """Bring the index up to date with the corpus folder."""
        with self._ingesting:
            return ingest(self.settings, self.embeddings, progress, self.store)

    def add_document(self, filename: str, data: bytes, replace: bool = False) -> StoredUpload:
        """Add an uploaded file to the corpus and index it at once; returns where it went and what it holds.

        A name already taken gets a number (report-2.txt) unless replace is set. Raises UsageError (nothing
        written) when the file is too large, of the wrong type or unreadable.
        """
        with self._ingesting:
            return add_document(self.settings, filename, data, self.embeddings, self.store, replace)

    def retrieve(
        self, query: str, k: int | None = None, filters: Filters | None = None, history: History | None = None
    ) -> list[ScoredChunk]:
        """The k best chunks for a query, best first."""
        return self.search.search(make_query(_checked(query), history), self.resolve_k(k), filters)

    def retriever(self, k: int | None = None, filters: Filters | None = None) -> CorpusRetriever:
        """This corpus's retriever as a LangChain BaseRetriever."""
        from assistant.retrieval.langchain import CorpusRetriever

        return CorpusRetriever(search=self.search, k=self.resolve_k(k), filters=filters)

    def ask(
        self,
        question: str,
        history: History | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        mode: AnswerMode | None = None,
    ) -> Answer:
        """Answer a question from the corpus, with citations, or abstain."""
        answer: Answer | None = None
        for event in self.ask_stream(question, history, k, filters, mode):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    @property
    def chat_model(self) -> str | None:
        """The chat model's name ('provider:model'), or None when answers are extractive only."""
        if self._chat_answerer is not None:
            return self._chat_answerer.name
        return None if self.settings.llm == "extractive" else self.settings.llm

    def ask_stream(
        self,
        question: str,
        history: History | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        mode: AnswerMode | None = None,
    ) -> Iterator[str | Answer]:
        """Answer text as it is composed (str pieces), then the finished Answer.

        mode: "extractive" quotes the corpus; "chat" uses the configured chat model; None picks the chat
        model when one is configured.
        """
        started = time.perf_counter()
        query = make_query(_checked(question), history)
        k = self.resolve_k(k)
        if mode == "chat" and self.chat_model is None:
            raise UsageError(
                "No chat model is configured; set ASSISTANT_LLM (e.g. ollama:llama3.2) or use extractive answers."
            )
        use_chat = mode == "chat" or (mode is None and self.chat_model is not None)
        snapshot = self.search.snapshot
        query_vector = self.search.embed_query(query)
        passages = self.search.search(query, k, filters, query_vector, snapshot)
        retrieved_at = time.perf_counter()
        if use_chat:
            yield from self._chat(question, query, passages, snapshot, started, retrieved_at)
            return
        # A follow-up's sentences are judged half on its own words, half with the earlier turn: "What did
        # they achieve?" needs the turn before, "And what does Ukraine want?" must not drift back to Russia.
        sentence_vector = query_vector
        if query.context:
            sentence_vector = (self.embeddings.encode_query(query.question) + query_vector) / 2
        selection = select(query, sentence_vector, passages, snapshot, self.settings.max_answer_sentences)
        abstained = not selection.sentences or selection.answerability < self.settings.abstain_below
        text, citations = (ABSTENTION_REPLY, ()) if abstained else cite(selection.sentences)
        # Timed before streaming: how fast a caller reads the pieces is not the answerer's time.
        timings = {"retrieve": (retrieved_at - started) * 1000, "answer": (time.perf_counter() - retrieved_at) * 1000}
        yield from _pieces(text)
        yield Answer(
            question, text, citations, abstained, tuple(passages), timings, selection.answerability, selection.signals
        )

    def _chat(
        self,
        question: str,
        query: Query,
        passages: list[ScoredChunk],
        snapshot: Snapshot,
        started: float,
        retrieved_at: float,
    ) -> Iterator[str | Answer]:
        from assistant.answer.chat import ChatAnswerer

        if self._chat_answerer is None:
            self._chat_answerer = ChatAnswerer.from_settings(self.settings)
        answer: Answer | None = None
        for event in self._chat_answerer.stream(question, query, passages, snapshot):
            if isinstance(event, Answer):
                answer = event
            else:
                yield event
        assert answer is not None
        timings = {"retrieve": (retrieved_at - started) * 1000, "answer": (time.perf_counter() - retrieved_at) * 1000}
        yield replace(answer, timings_ms=timings)

    def resolve_k(self, k: int | None) -> int:
        """The number of passages to retrieve: k, or the setting; UsageError when out of range."""
        k = self.settings.k if k is None else k
        if not 1 <= k <= MAX_K:
            raise UsageError(f"k must be between 1 and {MAX_K}, not {k}.")
        return k


def _checked(question: str) -> str:
    question = (question or "").strip()
    if not question:
        raise UsageError("The question is empty; type a question about the corpus.")
    if len(question) > MAX_QUESTION_CHARS:
        raise UsageError(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
    return question


def _pieces(text: str) -> Iterator[str]:
    """The answer a few words at a time, as a chat shows it being written."""
    words = text.split(" ")
    for start in range(0, len(words), 4):
        yield " ".join(words[start : start + 4]) + (" " if start + 4 < len(words) else "")
