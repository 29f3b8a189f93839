"""Running a question set through a pipeline and aggregating its metrics (`assistant eval`)."""

from __future__ import annotations

import argparse
import datetime as dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from assistant.evaluation.metrics import (
    CHUNKS_FOR_DOCUMENTS,
    RETRIEVAL_DEPTH,
    IndexTexts,
    answer_metrics,
    citation_metrics,
    latency_percentiles,
    retrieval_metrics,
)
from assistant.evaluation.questions import EvalQuestion, load_questions
from assistant.evaluation.report import compare_table, load_compared, parse_minimums, write_results
from assistant.retrieval.timeframe import parse_date
from assistant.settings import Settings
from assistant.types import Answer, ScoredChunk

# metric -> which questions it averages over (see eval/README.md)
RETRIEVAL_METRICS = ("hit@1", "hit@5", "hit@10", "recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10")
ANSWER_METRICS = ("fact_recall", "answer_presence", "token_f1", "answer_words")
CITATION_METRICS = ("citation_support", "evidence_precision")


class _Pipeline(Protocol):
    def retrieve(self, query: str, k: int, history: Any = None, as_of: dt.date | None = None) -> list[ScoredChunk]: ...
    def ask(self, question: str, history: Any = None, k: int = 5, as_of: dt.date | None = None) -> Answer: ...


@dataclass
class QuestionResult:
    question: EvalQuestion
    answer: Answer
    ranked: list[ScoredChunk]
    metrics: dict[str, float]
    answer_ms: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.question.id,
            "question": self.question.question,
            "answerable": self.question.answerable,
            **{key: value for key, value in self.answer.to_json().items() if key != "question"},
            "confidence": round(self.answer.confidence, 4),
            "signals": {name: round(value, 4) for name, value in self.answer.signals.items()},
            "retrieved": [
                {"doc_id": r.chunk.doc_id, "chunk_id": r.chunk.chunk_id, "score": round(r.score, 6)}
                for r in self.ranked
            ],
            "metrics": {name: round(value, 4) for name, value in self.metrics.items()},
        }


@dataclass
class EvalRun:
    results: list[QuestionResult]
    info: dict[str, Any] = field(default_factory=dict)

    def aggregate(self) -> dict[str, float]:
        """The run's metrics: each a mean over the questions it applies to."""
        metrics: dict[str, float] = {}
        for name in (*RETRIEVAL_METRICS, *ANSWER_METRICS, *CITATION_METRICS):
            values = [r.metrics[name] for r in self.results if name in r.metrics]
            if values:
                metrics[name] = sum(values) / len(values)
        cited = [
            (r.metrics["citation_validity"], r.metrics["citations"])
            for r in self.results
            if "citation_validity" in r.metrics
        ]
        if cited:  # over all citations, not over answers
            metrics["citation_validity"] = sum(v * n for v, n in cited) / sum(n for _, n in cited)
        unanswerable = [r for r in self.results if not r.question.answerable]
        answerable = [r for r in self.results if r.question.answerable]
        if unanswerable:
            metrics["abstention_accuracy"] = sum(r.answer.abstained for r in unanswerable) / len(unanswerable)
        if answerable:
            metrics["false_abstention_rate"] = sum(r.answer.abstained for r in answerable) / len(answerable)
        for label, values in (
            ("retrieve_ms", [r.answer.timings_ms.get("retrieve", 0.0) for r in self.results]),
            ("answer_ms", [r.answer_ms for r in self.results]),
        ):
            for stat, value in latency_percentiles(values).items():
                metrics[f"{label}_{stat}"] = value
        return metrics

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
    support: str,
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
        cited = citation_metrics(question, answer, texts, support)
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
        report = assistant.ingest(progress=bar)
    k = assistant.resolve_k(args.k)
    support = "verbatim"
    pipeline: _Pipeline
    if args.retriever == "baseline":
        from assistant.evaluation.baseline import BaselinePipeline

        pipeline = BaselinePipeline(assistant.store, assistant.embeddings)
    else:
        pipeline = _HybridPipeline(assistant)
        support = "verbatim" if assistant.chat_model is None else "lexical"
    snapshot = assistant.search.snapshot
    catalog = open_catalog(settings)
    try:
        texts = IndexTexts(catalog, {chunk.chunk_id: chunk.text for chunk in snapshot.chunks})
        with tqdm(total=len(questions), unit="q", desc="questions", disable=None) as bar:
            results = evaluate(questions, pipeline, texts, k, support, bar.update, parse_date(args.as_of))
    finally:
        catalog.close()
    run = EvalRun(results)
    run.info = {
        "questions_file": str(args.questions),
        "corpus": str(settings.corpus_dir),
        "retriever": args.retriever,
        "answerer": assistant.chat_model or "extractive",
        "support_check": support,
        "k": k,
        "collection": report.collection,
        "documents": report.documents_total,
        "chunks": report.chunks_total,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": {key: str(value) for key, value in settings.model_dump().items() if key != "api_key"},
    }
    out = args.out or Path("eval/results") / f"{args.questions.stem}-{dt.datetime.now():%Y%m%d-%H%M%S}"
    write_results(run, out, compared)
    echo(compare_table(run.aggregate(), compared, run.counts()))
    echo(f"\nWrote {out}/results.json, results.jsonl, report.md and metrics.png")
    failures = [
        f"{name} = {run.aggregate().get(name, float('nan')):.3f} < {floor}"
        for name, floor in minimums.items()
        if not run.aggregate().get(name, -1.0) >= floor
    ]
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
