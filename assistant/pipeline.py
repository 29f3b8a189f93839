"""The assistant as one object: ingest, retrieve and ask over the index that the settings name."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from assistant.answer.attribution import citation_attributes
from assistant.answer.base import Answerer
from assistant.answer.extractive import ExtractiveAnswerer
from assistant.answer.speakers import attribute_answer, speaker_table
from assistant.answer.support import citation_supports
from assistant.errors import IndexMissingError, UsageError
from assistant.index.chroma import VectorStore
from assistant.index.embed import SentenceEmbeddings
from assistant.index.embed_providers import embeddings_for
from assistant.index.publish import index_status
from assistant.ingest.sync import Progress, ingest
from assistant.ingest.upload import StoredUpload, add_document
from assistant.limits import checked_k, checked_question
from assistant.retrieval.hybrid import HybridSearch
from assistant.retrieval.query import History, make_query
from assistant.retrieval.timeframe import parse_date
from assistant.settings import Settings
from assistant.types import Answer, Citation, Filters, IndexStatus, IngestReport, ScoredChunk, with_voices

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from assistant.retrieval.langchain import CorpusRetriever
    from assistant.sources.records import SyncReport

AnswerMode = Literal["extractive", "chat"]


class Assistant:
    """Answers questions from one corpus. Models and the index load on first use and stay loaded."""

    def __init__(
        self,
        settings: Settings | None = None,
        chat_model: BaseChatModel | None = None,
        answerer: Answerer | None = None,
        embeddings: SentenceEmbeddings | None = None,
    ) -> None:
        """chat_model: any LangChain chat model to answer with, instead of the one ASSISTANT_LLM names.
        answerer: any Answerer (answer/base.py) to answer with by default, instead of those two.
        embeddings: the embeddings to index and ask with, instead of those ASSISTANT_EMBEDDING_MODEL names
        (e.g. assistant.testing.FakeEmbeddings); they must be the ones the index was built with."""
        self.settings = settings or Settings()
        self.embeddings = embeddings or embeddings_for(self.settings)
        self.store = VectorStore(self.settings)
        self.search = HybridSearch(self.settings, self.embeddings, self.store)
        # The answerer of each mode; None: the one given to the constructor, which answers when no mode is asked
        # for. "chat" is made from ASSISTANT_LLM on first use unless a chat model was given.
        self.answerers: dict[AnswerMode | None, Answerer] = {
            "extractive": ExtractiveAnswerer.from_settings(self.settings, self.embeddings)
        }
        if answerer is not None:
            self.answerers[None] = answerer
        if chat_model is not None:
            from assistant.answer.chat import ChatAnswerer

            self.answerers["chat"] = ChatAnswerer(chat_model, speakers=speaker_table(self.settings.corpus_dir))
        self._ingesting = threading.Lock()
        self._status: tuple[str, IndexStatus] | None = None  # the snapshot build it was read from, and it

    def status(self) -> IndexStatus:
        """The index's documents, chunks, date range and version; IndexMissingError before the first ingest."""
        snapshot = self.search.snapshot
        if self._status is None or self._status[0] != snapshot.name:
            self._status = (snapshot.name, index_status(self.settings, snapshot))
        return self._status[1]

    def ingest(self, progress: Progress | None = None) -> IngestReport:
        """Bring the index up to date with the corpus folder."""
        with self._ingesting:
            return ingest(self.settings, self.embeddings, progress, self.store)

    def sync_sources(
        self,
        names: list[str] | None = None,
        since: str | dt.date | None = None,
        max_new: int | None = None,
        ingest: bool = True,
    ) -> tuple[list[SyncReport], IngestReport | None]:
        """Fetch what is new at the corpus's sources (all, or those named), then ingest it when anything changed."""
        from assistant.sources.service import sync

        reports = sync(self.settings, names, parse_date(since, "--since date"), max_new)
        changed = any(report.added or report.updated for report in reports)
        return reports, self.ingest() if changed and ingest else None

    def add_document(self, filename: str, data: bytes, replace: bool = False) -> StoredUpload:
        """Add an uploaded file to the corpus and index it at once; returns where it went and what it holds.

        A name already taken gets a number (report-2.txt) unless replace is set. Raises UsageError (nothing
        written) when the file is too large, of the wrong type or unreadable.
        """
        indexed = self._indexed_sources if self.store.is_server else ()
        return add_document(
            self.settings, filename, data, self.embeddings, self.store, replace, indexed, lock=self._ingesting
        )

    def _indexed_sources(self) -> set[str]:
        """The files the index holds documents of (none when there is no index yet): from the snapshot this
        process answers from, else from the server's chunk records, so that an app server's first upload does
        not copy the whole index first."""
        if not self.search.snapshot_loaded:
            return self.store.sources()
        try:
            return {document.source for document in self.search.snapshot.documents}
        except IndexMissingError:
            return set()

    def voices(self) -> list[str]:
        """The voices the indexed documents carry ('Russia: government', ...), sorted; empty without an index."""
        try:
            return sorted({doc.voice for doc in self.search.snapshot.documents if doc.voice})
        except IndexMissingError:
            return []

    def retrieve(
        self,
        query: str,
        k: int | None = None,
        filters: Filters | None = None,
        history: History | None = None,
        as_of: str | dt.date | None = None,
        voice: str | Sequence[str] | None = None,
    ) -> list[ScoredChunk]:
        """The k best chunks for a query asked on as_of (default today), best first; voice keeps documents of
        that voice or side ("Russia", "Ukraine: government"), or of any of a list of them."""
        query_record = make_query(checked_question(query), history, as_of)
        return self.search.search(query_record, self.resolve_k(k), with_voices(filters, voice))

    def retriever(
        self,
        k: int | None = None,
        filters: Filters | None = None,
        as_of: str | dt.date | None = None,
        voice: str | Sequence[str] | None = None,
    ) -> CorpusRetriever:
        """This corpus's retriever as a LangChain BaseRetriever; as_of fixes its date (default: each call's day),
        voice its voices (as in `retrieve`)."""
        from assistant.retrieval.langchain import CorpusRetriever

        voices = [voice] if isinstance(voice, str) else list(voice) if voice else None
        return CorpusRetriever(
            search=self.search, k=self.resolve_k(k), filters=filters, as_of=parse_date(as_of), voice=voices
        )

    def ask(
        self,
        question: str,
        history: History | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        mode: AnswerMode | None = None,
        as_of: str | dt.date | None = None,
        voice: str | Sequence[str] | None = None,
    ) -> Answer:
        """Answer a question asked on as_of (default today) from the corpus, with citations, or abstain;
        voice answers from documents of that voice or side only (as in `retrieve`)."""
        answer: Answer | None = None
        for event in self.ask_stream(question, history, k, filters, mode, as_of, voice):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None
        return answer

    @property
    def chat_model(self) -> str | None:
        """The chat model's name ('provider:model'), or None when answers are extractive only."""
        chat = self.answerers.get("chat")
        if chat is not None:
            return chat.name
        return None if self.settings.llm == "extractive" else self.settings.llm

    def answerer(self, mode: AnswerMode | None = None) -> Answerer:
        """The answerer for a mode: "extractive" quotes the corpus; "chat" uses the configured chat model;
        None picks the answerer given to the constructor, else the chat model when one is configured."""
        if mode is None:
            mode = None if None in self.answerers else "extractive" if self.chat_model is None else "chat"
        found = self.answerers.get(mode)
        if found is not None:
            return found
        if self.chat_model is None:
            raise UsageError(
                "No chat model is configured; set ASSISTANT_LLM (e.g. ollama:llama3.2) or use extractive answers."
            )
        from assistant.answer.chat import ChatAnswerer

        self.answerers["chat"] = chat = ChatAnswerer.from_settings(self.settings)
        return chat

    def ask_stream(
        self,
        question: str,
        history: History | None = None,
        k: int | None = None,
        filters: Filters | None = None,
        mode: AnswerMode | None = None,
        as_of: str | dt.date | None = None,
        voice: str | Sequence[str] | None = None,
    ) -> Iterator[str | Answer]:
        """Answer text as it is composed (str pieces), then the finished Answer; mode as in `answerer`.

        as_of: the date the question is asked from (default today); documents dated after it are not used,
        and "this week" or "last year" in the question are read relative to it.
        """
        started = time.perf_counter()
        query = make_query(checked_question(question), history, as_of)
        k = self.resolve_k(k)
        answerer = self.answerer(mode)
        snapshot = self.search.snapshot
        query_vector = self.search.embed_query(query)
        passages = self.search.search(query, k, with_voices(filters, voice), query_vector, snapshot)
        retrieve_ms = (time.perf_counter() - started) * 1000
        # The answer's time is what the answerer spends computing, not how fast a caller reads the pieces.
        answer_ms = 0.0
        events = answerer.stream(query, passages, snapshot, query_vector)
        while True:
            resumed = time.perf_counter()
            event = next(events, None)
            answer_ms += (time.perf_counter() - resumed) * 1000
            if event is None:
                raise RuntimeError(f"The answerer {answerer.name} ended without an Answer.")
            if isinstance(event, Answer):
                event = attribute_answer(event, speaker_table(self.settings.corpus_dir))
                yield replace(event, timings_ms={"retrieve": retrieve_ms, "answer": answer_ms}, time_frame=query.frame)
                return
            yield event

    def supports(self, claim: str, citation: Citation) -> bool:
        """Whether a citation's quote supports a claim, by the rule the chat answerer's check applies
        (answer/support.py), with this index's term weights."""
        return citation_supports(claim, citation, self.search.snapshot)

    def attributes(self, claim: str, citation: Citation) -> bool:
        """Whether a citation's passage supports whom a claim names as speaking ("Peskov said ..."), by the rule
        the chat answerer's check applies (answer/attribution.py); True when the claim names no one."""
        return citation_attributes(claim, citation, self.search.snapshot, speaker_table(self.settings.corpus_dir))

    def resolve_k(self, k: int | None) -> int:
        """The number of passages to retrieve: k, or the setting; UsageError when out of range (limits.py)."""
        return checked_k(self.settings.k if k is None else k)
