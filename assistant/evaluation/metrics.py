"""The metrics of a run, each declared once (METRICS): its formula, the questions it averages over,
its group and which way is better. The run, the report, the plot, the `--min` gate and `--compare`
read METRICS, and eval/README.md's tables are made from it (`report.metric_tables`).

A metric aggregates one per-question score (evaluation/scores.py) or observation (abstained, timings);
a per-question score that no metric declares is an error, not a silent loss.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from assistant.evaluation.questions import EvalQuestion
from assistant.evaluation.scores import PRESENCE_MAX_WORDS
from assistant.types import Answer, ScoredChunk


@dataclass
class QuestionResult:
    """One question of a run: its answer, the ranking retrieved for it, and its scores."""

    question: EvalQuestion
    answer: Answer
    ranked: list[ScoredChunk]
    metrics: dict[str, float]  # the per-question scores that METRICS aggregate
    answer_ms: float

    def to_json(self) -> dict[str, Any]:
        """The question's line in results.jsonl."""
        return {
            "id": self.question.id,
            "question": self.question.question,
            "answerable": self.question.answerable,
            **{key: value for key, value in self.answer.to_json().items() if key != "question"},
            "confidence": _rounded(self.answer.confidence),
            "signals": {name: round(value, 4) for name, value in self.answer.signals.items()},
            "supported_share": _rounded(self.answer.supported_share),
            "retrieved": [
                {"doc_id": r.chunk.doc_id, "chunk_id": r.chunk.chunk_id, "score": round(r.score, 6)}
                for r in self.ranked
            ],
            "metrics": {name: round(value, 4) for name, value in self.metrics.items()},
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


@dataclass(frozen=True)
class Questions:
    """The questions a metric averages over."""

    description: str
    holds: Callable[[QuestionResult], bool]


EVERY = Questions("every question", lambda r: True)
WITH_EVIDENCE = Questions(
    "questions with `evidence` or `evidence_doc_ids`",
    lambda r: bool(r.question.evidence or r.question.evidence_doc_ids),
)
WITH_KEY_FACTS = Questions(
    "answerable questions with `key_facts`", lambda r: r.question.answerable and bool(r.question.key_facts)
)
WITH_ANSWERS = Questions(
    "answerable questions with `answers`", lambda r: r.question.answerable and bool(r.question.answers)
)
ANSWERED = Questions("questions answered (not abstained)", lambda r: not r.answer.abstained)
CITED = Questions("questions answered with citations", lambda r: not r.answer.abstained and bool(r.answer.citations))
CITED_ANSWERABLE = Questions(
    "answerable questions answered with citations",
    lambda r: r.question.answerable and not r.answer.abstained and bool(r.answer.citations),
)
CITED_WITH_DOCS = Questions(
    "answerable questions answered with citations that have `evidence_doc_ids`",
    lambda r: CITED_ANSWERABLE.holds(r) and bool(r.question.evidence_doc_ids),
)
ANSWERABLE = Questions("answerable questions", lambda r: r.question.answerable)
UNANSWERABLE = Questions("questions with `answerable: false`", lambda r: not r.question.answerable)

Group = Literal["retrieval", "answer", "citation", "abstention", "latency"]
# What a per-question value is read from: a score in QuestionResult.metrics, or one of these.
_OBSERVED: dict[str, Callable[[QuestionResult], float]] = {
    "abstained": lambda r: float(r.answer.abstained),
    "retrieve_ms": lambda r: r.answer.timings_ms.get("retrieve", 0.0),
    "answer_ms": lambda r: r.answer_ms,
}


@dataclass(frozen=True)
class Metric:
    """One metric of a run: how it is computed, over which questions, and which way is better."""

    name: str
    group: Group
    formula: str  # Markdown, as eval/README.md shows it
    over: Questions
    higher_is_better: bool = True
    share: bool = True  # a value in 0..1 (plotted); else a count of words or milliseconds
    source: str = ""  # the per-question value aggregated (default: the metric's name)
    reduce: Literal["mean", "median", "p50", "p95"] = "mean"
    weight: str = ""  # a per-question value that weights the mean (citation_validity: per citation)

    def value(self, results: Sequence[QuestionResult]) -> float | None:
        """The metric over a run's results; None when no question it averages over has a value."""
        pairs = [
            (value, r.metrics.get(self.weight, 1.0) if self.weight else 1.0)
            for r in results
            if self.over.holds(r) and (value := self._read(r)) is not None
        ]
        if not pairs:
            return None
        values = [value for value, _ in pairs]
        if self.reduce == "median":
            return float(statistics.median(values))
        if self.reduce in ("p50", "p95"):
            return percentile(values, int(self.reduce[1:]) / 100)
        if self.weight:
            return sum(v * w for v, w in pairs) / sum(w for _, w in pairs)
        return sum(values) / len(values)

    def _read(self, result: QuestionResult) -> float | None:
        source = self.source or self.name
        observed = _OBSERVED.get(source)
        return observed(result) if observed else result.metrics.get(source)


_RANKS = (1, 5, 10)
_LOWER: dict[str, Any] = {"higher_is_better": False}  # a smaller number is better
_COUNT: dict[str, Any] = {"higher_is_better": False, "share": False}  # words or milliseconds: fewer is better

METRICS: tuple[Metric, ...] = (
    *(
        Metric(f"hit@{k}", "retrieval", f"1 if a relevant unit is in the top {k}, else 0", WITH_EVIDENCE)
        for k in _RANKS
    ),
    *(
        Metric(f"recall@{k}", "retrieval", f"(evidence strings or documents found in the top {k}) / R", WITH_EVIDENCE)
        for k in _RANKS
    ),
    Metric("mrr@10", "retrieval", "1 / (rank of the first relevant unit), 0 if none in the top 10", WITH_EVIDENCE),
    Metric(
        "ndcg@10",
        "retrieval",
        "sum over i <= 10 of g_i / log2(i + 1), divided by the same sum for min(R, 10) relevant units at the top",
        WITH_EVIDENCE,
    ),
    Metric(
        "fact_recall",
        "answer",
        "(key_facts groups with at least one alternative in the answer, case-insensitive) / (groups)",
        WITH_KEY_FACTS,
    ),
    Metric(
        "answer_presence",
        "answer",
        "1 if some `answers` entry, normalised, occurs as whole words in the normalised answer; normalising lowers "
        "case, drops thousands separators (1,000 -> 1000), punctuation and the articles a, an, the, and writes "
        "number words as digits (six -> 6, twenty-five -> 25)",
        WITH_ANSWERS,
    ),
    Metric(
        "answer_presence_80",
        "answer",
        f"answer_presence, counting only answers of at most {PRESENCE_MAX_WORDS} words (a longer one scores 0)",
        WITH_ANSWERS,
    ),
    Metric(
        "token_f1",
        "answer",
        "max over `answers` of the F1 of normalised tokens (SQuAD; number words left as they are): 2PR / (P + R) "
        "with P = shared / answer tokens, R = shared / gold tokens",
        WITH_ANSWERS,
    ),
    Metric("answer_words", "answer", "words in the answer; an abstention counts 0", EVERY, **_COUNT),
    Metric(
        "answer_words_median",
        "answer",
        "the median of answer_words over the answers given",
        ANSWERED,
        source="answer_words",
        reduce="median",
        **_COUNT,
    ),
    Metric(
        "citation_validity",
        "citation",
        "over all citations of the run: the share whose quote occurs verbatim in the cited chunk **and** equals "
        "the document text at [start:end]",
        CITED,
        weight="citations",
    ),
    Metric(
        "citation_support",
        "citation",
        "the share of answer sentences carrying a citation whose quote supports them, by the rule the chat "
        "answerer's check applies: the sentence is in the quote word for word, or its names and numbers are in "
        "the cited passage and at least 60% of its content words (weighted by IDF) are in the quote",
        CITED_ANSWERABLE,
    ),
    Metric(
        "evidence_precision",
        "citation",
        "(cited documents among `evidence_doc_ids`) / (cited documents)",
        CITED_WITH_DOCS,
    ),
    Metric(
        "attribution_accuracy",
        "citation",
        "the share of the answer's citations whose `voice` (the quote's speaker's, else its document's) is the "
        "question's `voice` field, or of that side",
        Questions(
            "questions with `voice` answered with citations", lambda r: "voice" in r.question.extra and CITED.holds(r)
        ),
    ),
    Metric(
        "both_sides_coverage",
        "citation",
        "(sides in the question's `sides` field that a citation's voice states) / (sides)",
        Questions(
            "questions with `sides` answered with citations", lambda r: "sides" in r.question.extra and CITED.holds(r)
        ),
    ),
    Metric(
        "misattribution_rate",
        "citation",
        'the share of answers with a sentence that names a speaker ("The Kremlin said ...", "Peskov said") whom '
        "none of the passages it cites supports, by the rule the chat answerer's check applies: a person named must "
        "be the one the quote reports as speaking (or, where that is an institution of their voice, be named in the "
        "passage); an institution or a capital (the Kremlin, Kyiv) must be of the voice of the quote's speaker, else "
        "of its document",
        CITED,
        source="misattributed",
        **_LOWER,
    ),
    Metric("abstention_accuracy", "abstention", "the share abstained", UNANSWERABLE, source="abstained"),
    Metric("false_abstention_rate", "abstention", "the share abstained", ANSWERABLE, source="abstained", **_LOWER),
    Metric(
        "retrieve_ms_p50",
        "latency",
        "the median (nearest rank) of the retrieval step's time, `timings_ms.retrieve`",
        EVERY,
        source="retrieve_ms",
        reduce="p50",
        **_COUNT,
    ),
    Metric(
        "retrieve_ms_p95",
        "latency",
        "the 95th percentile (nearest rank) of the retrieval step's time",
        EVERY,
        source="retrieve_ms",
        reduce="p95",
        **_COUNT,
    ),
    Metric(
        "answer_ms_p50",
        "latency",
        "the median (nearest rank) of the wall time of one `ask`, in the evaluating process with the model loaded",
        EVERY,
        source="answer_ms",
        reduce="p50",
        **_COUNT,
    ),
    Metric(
        "answer_ms_p95",
        "latency",
        "the 95th percentile (nearest rank) of the wall time of one `ask`",
        EVERY,
        source="answer_ms",
        reduce="p95",
        **_COUNT,
    ),
)
BY_NAME: dict[str, Metric] = {metric.name: metric for metric in METRICS}
_SCORES = {metric.source or metric.name for metric in METRICS} | {metric.weight for metric in METRICS if metric.weight}


def aggregate(results: Sequence[QuestionResult]) -> dict[str, float]:
    """Every declared metric that applies to the run, in declaration order."""
    undeclared = {name for r in results for name in r.metrics} - _SCORES
    if undeclared:  # a score nobody aggregates would be silently lost: declare it in METRICS
        raise ValueError(f"Per-question scores not declared in METRICS: {', '.join(sorted(undeclared))}")
    values = {metric.name: metric.value(results) for metric in METRICS}
    return {name: value for name, value in values.items() if value is not None}


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank q-th percentile (q in 0..1) of values."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class EvalRun:
    """A question set's results, and what the run was (its corpus, settings, index) for results.json."""

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
