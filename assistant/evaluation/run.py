"""Running a question set through a pipeline and aggregating its metrics (`assistant eval`)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

from assistant.answer.attribution import ATTRIBUTION_RULE
from assistant.answer.support import SUPPORT_RULE
from assistant.evaluation.metrics import EvalRun, QuestionResult
from assistant.evaluation.questions import EvalQuestion, load_questions
from assistant.evaluation.report import write_results
from assistant.evaluation.scores import (
    CHUNKS_FOR_DOCUMENTS,
    RETRIEVAL_DEPTH,
    IndexTexts,
    answer_metrics,
    citation_metrics,
    misattribution_metrics,
    retrieval_metrics,
    voice_metrics,
)
from assistant.index.chroma import VectorStore
from assistant.index.embed import SentenceEmbeddings
from assistant.index.publish import open_catalog
from assistant.settings import Settings
from assistant.types import Answer, Citation, IndexStatus, ScoredChunk


class _Pipeline(Protocol):
    def retrieve(self, query: str, k: int, history: Any = None, as_of: dt.date | None = None) -> list[ScoredChunk]: ...
    def ask(self, question: str, history: Any = None, k: int = 5, as_of: dt.date | None = None) -> Answer: ...


def evaluate(
    questions: Iterable[EvalQuestion],
    pipeline: _Pipeline,
    texts: IndexTexts,
    k: int,
    supports: Callable[[str, Citation], bool],
    progress: Callable[[int], None] | None = None,
    as_of: dt.date | None = None,
    attributes: Callable[[str, Citation], bool] | None = None,
) -> list[QuestionResult]:
    """Ask every question (on its question_date, else on as_of), retrieve its ranking, and score both.

    attributes(claim, citation): whether a citation's passage supports whom a claim names as speaking
    (Assistant.attributes); without it, misattribution is not measured."""
    results = []
    for question in questions:
        depth = RETRIEVAL_DEPTH if question.evidence else CHUNKS_FOR_DOCUMENTS
        day = question.question_date or as_of
        ranked = pipeline.retrieve(question.question, depth, question.history, day)
        started = time.perf_counter()
        answer = pipeline.ask(question.question, question.history, k, day)
        answer_ms = (time.perf_counter() - started) * 1000
        metrics = {**retrieval_metrics(question, ranked), **answer_metrics(question, answer)}
        metrics.update(voice_metrics(question, answer))
        if attributes is not None:
            metrics.update(misattribution_metrics(answer, attributes))
        cited = citation_metrics(question, answer, texts, supports)
        # A wrong answer to an unanswerable question still has citations to check, but no support to credit.
        metrics.update(
            cited
            if question.answerable
            else {k: v for k, v in cited.items() if k in ("citation_validity", "citations")}
        )
        results.append(QuestionResult(question, answer, ranked, metrics, answer_ms))
        if progress:
            progress(1)
    return results


class EvaluatedAssistant(Protocol):
    """What a run needs of the assistant it evaluates (assistant.Assistant, already indexed)."""

    settings: Settings
    store: VectorStore
    embeddings: SentenceEmbeddings

    def resolve_k(self, k: int | None) -> int: ...
    def status(self) -> IndexStatus: ...
    def answerer(self, mode: Any = None) -> Any: ...
    def supports(self, claim: str, citation: Citation) -> bool: ...
    def attributes(self, claim: str, citation: Citation) -> bool: ...
    def retrieve(
        self, query: str, k: int | None = None, filters: Any = None, history: Any = None, as_of: Any = None
    ) -> list[ScoredChunk]: ...
    def ask(
        self,
        question: str,
        history: Any = None,
        k: int | None = None,
        filters: Any = None,
        mode: Any = None,
        as_of: Any = None,
    ) -> Answer: ...


def run_eval(
    assistant: EvaluatedAssistant,
    questions_file: Path,
    *,
    retriever: str = "hybrid",
    k: int | None = None,
    as_of: dt.date | None = None,
    out: Path | None = None,
    compared: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[EvalRun, Path]:
    """`assistant eval` as a library call: ask a question set of an indexed assistant, through our pipeline or
    a baseline retriever ("baseline", "bm25"), and write results.json, results.jsonl, report.md and a plot into
    out (default: eval/results/<set>-<time>), with deltas against an earlier run's results.json; the run and
    the folder written. It never prints; progress(n) is told as questions are done."""
    settings = assistant.settings
    questions = load_questions(questions_file)
    k = assistant.resolve_k(k)
    pipeline: _Pipeline
    if retriever == "baseline":
        from assistant.evaluation.baseline import BaselinePipeline

        pipeline = BaselinePipeline(assistant.store, assistant.embeddings)
    elif retriever == "bm25":
        from assistant.evaluation.bm25 import DocumentBM25Pipeline

        with closing(open_catalog(settings)) as documents:
            pipeline = DocumentBM25Pipeline(documents)
    else:
        pipeline = _HybridPipeline(assistant)
    status = assistant.status()
    with closing(open_catalog(settings)) as catalog:
        results = evaluate(
            questions, pipeline, IndexTexts(catalog), k, assistant.supports, progress, as_of, assistant.attributes
        )
    run = EvalRun(results)
    run.info = {
        "questions_file": str(questions_file),
        "corpus": str(settings.corpus_dir),
        "retriever": retriever,
        "answerer": assistant.answerer().name,
        "support_check": SUPPORT_RULE,
        "attribution_check": ATTRIBUTION_RULE,
        "k": k,
        "collection": status.collection,
        "index_version": status.version,
        "documents": status.documents,
        "chunks": status.chunks,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": {key: str(value) for key, value in settings.model_dump().items() if key != "api_key"},
    }
    out = out or Path("eval/results") / f"{questions_file.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    write_results(run, out, compared)
    return run, out


class _HybridPipeline:
    """Our pipeline behind the evaluation's interface."""

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    def retrieve(self, query: str, k: int, history: Any = None, as_of: dt.date | None = None) -> list[ScoredChunk]:
        result: list[ScoredChunk] = self.assistant.retrieve(query, k=k, history=history, as_of=as_of)
        return result

    def ask(self, question: str, history: Any = None, k: int = 5, as_of: dt.date | None = None) -> Answer:
        answer: Answer = self.assistant.ask(question, history=history, k=k, as_of=as_of)
        return answer
