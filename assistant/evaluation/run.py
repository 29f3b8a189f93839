"""Running a question set through a pipeline and aggregating its metrics (`assistant eval`)."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable, Iterable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from assistant.answer.support import SUPPORT_RULE
from assistant.evaluation.metrics import QuestionResult, aggregate
from assistant.evaluation.questions import EvalQuestion, load_questions
from assistant.evaluation.report import compare_table, gate_failures, load_compared, parse_minimums, write_results
from assistant.evaluation.scores import (
    CHUNKS_FOR_DOCUMENTS,
    RETRIEVAL_DEPTH,
    IndexTexts,
    answer_metrics,
    citation_metrics,
    retrieval_metrics,
    voice_metrics,
)
from assistant.retrieval.timeframe import parse_date
from assistant.settings import Settings
from assistant.types import Answer, Citation, ScoredChunk


class _Pipeline(Protocol):
    def retrieve(self, query: str, k: int, history: Any = None, as_of: dt.date | None = None) -> list[ScoredChunk]: ...
    def ask(self, question: str, history: Any = None, k: int = 5, as_of: dt.date | None = None) -> Answer: ...


@dataclass
class EvalRun:
    results: list[QuestionResult]
    info: dict[str, Any] = field(default_factory=dict)

    def aggregate(self) -> dict[str, float]:
        """The run's metrics, as METRICS declares them."""
        return aggregate(self.results)

    def counts(self) -> dict[str, int]:
        return {
            "questions": len(self.results),
            "answerable": sum(r.question.answerable for r in self.results),
            "unanswerable": sum(not r.question.answerable for r in self.results),
            "abstained": sum(r.answer.abstained for r in self.results),
        }


def evaluate(
    questions: Iterable[EvalQuestion],
    pipeline: _Pipeline,
    texts: IndexTexts,
    k: int,
    supports: Callable[[str, Citation], bool],
    progress: Callable[[int], None] | None = None,
    as_of: dt.date | None = None,
) -> list[QuestionResult]:
    """Ask every question (on its question_date, else on as_of), retrieve its ranking, and score both."""
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


def run_eval_command(
    args: argparse.Namespace, settings: Settings, echo: Callable[[str], None], progress_bar: Callable[[], Any]
) -> int:
    """`assistant eval`: index the corpus, run the set, write the results, check the --min gates."""
    from tqdm import tqdm

    from assistant.ingest.sync import open_catalog
    from assistant.pipeline import Assistant

    questions = load_questions(args.questions)
    minimums = parse_minimums(args.min)
    compared = load_compared(args.compare) if args.compare else None
    assistant = Assistant(settings)
    with progress_bar() as bar:
        assistant.ingest(progress=bar)
    k = assistant.resolve_k(args.k)
    pipeline: _Pipeline
    if args.retriever == "baseline":
        from assistant.evaluation.baseline import BaselinePipeline

        pipeline = BaselinePipeline(assistant.store, assistant.embeddings)
    elif args.retriever == "bm25":
        from assistant.evaluation.bm25 import DocumentBM25Pipeline

        with closing(open_catalog(settings)) as documents:
            pipeline = DocumentBM25Pipeline(documents)
    else:
        pipeline = _HybridPipeline(assistant)
    status = assistant.status()
    catalog = open_catalog(settings)
    try:
        texts = IndexTexts(catalog)
        with tqdm(total=len(questions), unit="q", desc="questions", disable=None) as bar:
            results = evaluate(questions, pipeline, texts, k, assistant.supports, bar.update, parse_date(args.as_of))
    finally:
        catalog.close()
    run = EvalRun(results)
    run.info = {
        "questions_file": str(args.questions),
        "corpus": str(settings.corpus_dir),
        "retriever": args.retriever,
        "answerer": assistant.answerer().name,
        "support_check": SUPPORT_RULE,
        "k": k,
        "collection": status.collection,
        "index_version": status.version,
        "documents": status.documents,
        "chunks": status.chunks,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": {key: str(value) for key, value in settings.model_dump().items() if key != "api_key"},
    }
    out = args.out or Path("eval/results") / f"{args.questions.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    write_results(run, out, compared)
    metrics = run.aggregate()
    echo(compare_table(metrics, compared, run.counts()))
    echo(f"\nWrote {out}/results.json, results.jsonl, report.md and metrics.png")
    failures = gate_failures(metrics, minimums)
    if failures:
        echo("Quality gate failed: " + "; ".join(failures))
        return 1
    return 0


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
