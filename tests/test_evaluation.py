from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from assistant.answer.support import supports
from assistant.cli import cli
from assistant.errors import UsageError
from assistant.evaluation.metrics import BY_NAME, METRICS, QuestionResult, aggregate
from assistant.evaluation.questions import EvalQuestion, load_questions
from assistant.evaluation.report import gate_failures, metric_tables, parse_maximums, parse_minimums
from assistant.evaluation.scores import (
    answer_metrics,
    citation_metrics,
    normalise_answer,
    presence_form,
    retrieval_metrics,
    token_f1,
)
from assistant.pipeline import Assistant
from assistant.types import Answer, ChunkInfo, Citation, ScoredChunk

from .conftest import BUNDLED_CORPUS, ROOT


def _ranked(*texts_and_docs: tuple[str, str]) -> list[ScoredChunk]:
    return [
        ScoredChunk(ChunkInfo(f"{doc}#{i}", doc, text, 0, len(text), "T", f"{doc}.txt"), 1.0 / i, i)
        for i, (text, doc) in enumerate(texts_and_docs, start=1)
    ]


def test_retrieval_metrics_against_evidence_strings() -> None:
    question = EvalQuestion("q", "?", evidence=["Talks were held in  ISTANBUL", "prisoner exchanges"])
    ranked = _ranked(("nothing here", "a"), ("talks were held in Istanbul.", "b"), ("more prisoner exchanges", "c"))
    metrics = retrieval_metrics(question, ranked)
    assert metrics["hit@1"] == 0.0 and metrics["hit@5"] == 1.0
    assert metrics["recall@1"] == 0.0 and metrics["recall@5"] == 1.0
    assert metrics["mrr@10"] == 0.5
    ideal = 1 + 1 / 1.5849625007211563
    assert metrics["ndcg@10"] == pytest.approx((1 / 1.5849625007211563 + 1 / 2) / ideal)


def test_retrieval_metrics_against_documents_count_each_document_once() -> None:
    question = EvalQuestion("q", "?", evidence_doc_ids=["b", "z"])
    ranked = _ranked(("x", "a"), ("y", "a"), ("z", "b"), ("w", "b"))
    metrics = retrieval_metrics(question, ranked)  # documents in rank order: a, b
    assert metrics["hit@1"] == 0.0 and metrics["hit@5"] == 1.0
    assert metrics["recall@5"] == 0.5 and metrics["mrr@10"] == 0.5


def test_answer_metrics_normalise_and_score_abstention_as_zero() -> None:
    question = EvalQuestion(
        "q", "?", answers=["The Istanbul talks"], key_facts=[["prisoner exchanges", "swaps"], ["Istanbul"]]
    )
    answer = Answer("?", "Talks in Istanbul led to prisoner swaps. [1]", (), False)
    metrics = answer_metrics(question, answer)
    assert metrics["fact_recall"] == 1.0
    assert metrics["answer_presence"] == 0.0  # "istanbul talks" does not occur as such
    assert 0 < metrics["token_f1"] < 1
    assert metrics["answer_words"] == 7
    declined = answer_metrics(question, Answer("?", "I cannot say.", (), True))
    assert declined["fact_recall"] == 0.0 and declined["answer_presence"] == 0.0
    assert normalise_answer("The U.S.-led, talks!") == "u s led talks"
    assert token_f1("in Istanbul", "Istanbul") == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    ("gold", "answer"),
    [
        ("6", "The siege lasted six months. [1]"),
        ("9", "A nine-year-old boy was rescued. [1]"),
        ("25", "Twenty-five drones were shot down. [1]"),
        ("1000", "About 1,000 prisoners were exchanged. [1]"),
        ("1,000", "About 1000 prisoners were exchanged. [1]"),
        ("six", "The siege lasted 6 months. [1]"),
    ],
)
def test_answer_presence_reads_number_words_as_digits_on_both_sides(gold: str, answer: str) -> None:
    metrics = answer_metrics(EvalQuestion("q", "?", answers=[gold]), Answer("?", answer, (), False))
    assert metrics["answer_presence"] == 1.0 and metrics["answer_presence_80"] == 1.0
    assert presence_form("twenty people") == "20 people" and presence_form("in 2022,2023") == "in 2022 2023"


def test_answer_presence_80_does_not_count_a_long_answer() -> None:
    question = EvalQuestion("q", "?", answers=["Istanbul"])
    filler = " ".join(["word"] * 80)
    long = answer_metrics(question, Answer("?", f"Talks were held in Istanbul. {filler} [1]", (), False))
    assert long["answer_presence"] == 1.0 and long["answer_presence_80"] == 0.0 and long["answer_words"] == 85
    short = answer_metrics(question, Answer("?", "Talks were held in Istanbul. [1]", (), False))
    assert short["answer_presence_80"] == 1.0


def _result(question: EvalQuestion, answer: Answer, **metrics: float) -> QuestionResult:
    return QuestionResult(question, answer, [], dict(metrics), answer_ms=10.0)


def test_metrics_aggregate_over_the_questions_they_declare() -> None:
    answered = Answer("?", "Talks were held in Istanbul. [1]", (), False, timings_ms={"retrieve": 4.0})
    declined = Answer("?", "No.", (), True, timings_ms={"retrieve": 6.0})
    results = [
        _result(EvalQuestion("a", "?"), answered, answer_words=6.0),
        _result(EvalQuestion("b", "?"), declined, answer_words=0.0),
        _result(EvalQuestion("c", "?", answerable=False), declined, answer_words=0.0),
    ]
    metrics = aggregate(results)
    assert metrics["answer_words"] == 2.0  # every question, an abstention counting 0
    assert metrics["answer_words_median"] == 6.0  # the answers given only
    assert metrics["false_abstention_rate"] == 0.5 and metrics["abstention_accuracy"] == 1.0
    assert metrics["retrieve_ms_p50"] == 6.0 and metrics["answer_ms_p95"] == 10.0  # nearest rank of 4, 6, 6
    assert "fact_recall" not in metrics  # no question has key_facts
    assert list(metrics) == [m.name for m in METRICS if m.name in metrics]  # declaration order


def test_a_score_no_metric_declares_is_an_error_not_a_silent_loss() -> None:
    answer = Answer("?", "Yes. [1]", (), False)
    with pytest.raises(ValueError, match="not declared in METRICS: answer_novelty"):
        aggregate([_result(EvalQuestion("a", "?"), answer, answer_words=1.0, answer_novelty=0.5)])


def test_the_gate_takes_declared_metrics_only() -> None:
    assert parse_minimums(["fact_recall=0.85", " answer_presence_80 = 0.4"]) == {
        "fact_recall": 0.85,
        "answer_presence_80": 0.4,
    }
    with pytest.raises(UsageError, match=r"unknown metric 'fact_recal'; use one of: hit@1, .*fact_recall"):
        parse_minimums(["fact_recal=0.85"])
    with pytest.raises(UsageError, match="lower is better"):
        parse_minimums(["answer_ms_p95=100"])
    assert parse_maximums(["misattribution_rate=0", "answer_ms_p95 = 250"]) == {
        "misattribution_rate": 0.0,
        "answer_ms_p95": 250.0,
    }
    with pytest.raises(UsageError, match="higher is better, so a maximum cannot gate it"):
        parse_maximums(["fact_recall=0.5"])
    with pytest.raises(UsageError, match=r"--max takes METRIC=VALUE, like misattribution_rate=0.0"):
        parse_maximums(["misattribution_rate"])
    metrics = {"fact_recall": 0.8, "misattribution_rate": 0.25}
    assert gate_failures(metrics, {"fact_recall": 0.75}, {"misattribution_rate": 0.25}) == []
    assert gate_failures(metrics, {"fact_recall": 0.9}, {"misattribution_rate": 0.0, "answer_ms_p95": 9.0}) == [
        "fact_recall = 0.800 < 0.9",
        "misattribution_rate = 0.250 > 0.0",
        "answer_ms_p95 was not measured (no question of the set applies) > 9.0",
    ]


def test_the_eval_readme_shows_every_metric_as_declared() -> None:
    readme = (ROOT / "eval" / "README.md").read_text(encoding="utf-8")
    assert metric_tables() in readme, "eval/README.md's metric tables differ from METRICS: paste metric_tables()"
    assert {m.group for m in METRICS} == {"retrieval", "answer", "citation", "abstention", "latency"}
    assert not BY_NAME["answer_words"].share and BY_NAME["answer_presence_80"].share


class _Texts:
    def __init__(self, chunk: str, document: str) -> None:
        self.chunk, self.document = chunk, document

    def chunk_text(self, chunk_id: str) -> str | None:
        return self.chunk

    def document_text(self, doc_id: str) -> str | None:
        return self.document


def test_citation_metrics_check_quotes_offsets_and_support() -> None:
    document = "Intro. Talks were held in Istanbul. Nothing else."
    start = document.index("Talks")
    good = Citation(1, "d", "T", "d.txt", None, "d#0", "Talks were held in Istanbul.", start, start + 28)
    shifted = Citation(2, "d", "T", "d.txt", None, "d#0", "Talks were held in Istanbul.", start + 1, start + 29)
    answer = Answer("?", "Talks were held in Istanbul. [1] Something unsupported. [2]", (good, shifted), False)
    question = EvalQuestion("q", "?", evidence_doc_ids=["d", "other"])
    metrics = citation_metrics(question, answer, _Texts(document, document), lambda c, cited: supports(c, cited.quote))
    assert metrics["citation_validity"] == 0.5  # the second citation's offsets are off by one
    assert metrics["citation_support"] == 0.5  # the second sentence is not its quote
    assert metrics["evidence_precision"] == 1.0


def test_question_sets_are_validated_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text('{"id": "a", "question": "Q?", "custom": 1}\n\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(UsageError, match="set.jsonl:3"):
        load_questions(path)
    path.write_text('{"id": "a", "question": "Q?", "custom": 1, "history": [["u", "a"]]}\n', encoding="utf-8")
    [question] = load_questions(path)
    assert question.extra == {"custom": 1} and question.history == [("u", "a")] and question.answerable
    path.write_text('{"id": "a", "question": "Q?"}\n{"id": "a", "question": "R?"}\n', encoding="utf-8")
    with pytest.raises(UsageError, match="repeats the id"):
        load_questions(path)


@pytest.fixture
def small_set(tmp_path: Path) -> Path:
    """A few questions from eval/questions.jsonl: answerable, a follow-up, and unanswerable ones."""
    wanted = {"direct-preconditions", "direct-talks-venue", "follow-ukraine-wants", "none-china", "none-weather"}
    lines = [
        line
        for line in Path("eval/questions.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(line)["id"] in wanted
    ]
    path = tmp_path / "small.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_eval_command_writes_results_report_and_plot(
    small_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run1"
    assert cli(["eval", "--questions", str(small_set), "--corpus", str(BUNDLED_CORPUS), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "fact_recall" in printed and "abstention_accuracy" in printed
    summary = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert summary["counts"] == {"questions": 5, "answerable": 3, "unanswerable": 2, "abstained": 2}
    assert summary["metrics"]["abstention_accuracy"] == 1.0 and summary["metrics"]["citation_validity"] == 1.0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {"id", "question", "answer", "abstained", "citations", "timings_ms", "retrieved", "metrics"} <= set(
        records[0]
    )
    assert {"doc_id", "chunk_id", "score"} == set(records[0]["retrieved"][0])
    assert all(0 <= r["confidence"] <= 1 and r["signals"] and r["supported_share"] is None for r in records)
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# Evaluation")
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_compare_and_quality_gate(small_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = tmp_path / "first"
    assert cli(["eval", "--questions", str(small_set), "--corpus", str(BUNDLED_CORPUS), "--out", str(first)]) == 0
    capsys.readouterr()
    argv = ["eval", "--questions", str(small_set), "--corpus", str(BUNDLED_CORPUS), "--out", str(tmp_path / "second")]
    assert cli([*argv, "--compare", str(first / "results.json"), "--min", "citation_validity=1.0"]) == 0
    printed = capsys.readouterr().out
    assert "before" in printed and "answer_presence_80" in printed
    earlier = json.loads((first / "results.json").read_text(encoding="utf-8"))
    earlier["metrics"].update(answer_words=99.0, fact_recall=0.0)  # now fewer words and more facts: both better
    (first / "results.json").write_text(json.dumps(earlier), encoding="utf-8")
    assert cli([*argv, "--compare", str(first / "results.json")]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert rows["answer_words"].endswith(" +") and rows["fact_recall"].endswith(" +")
    assert cli([*argv, "--min", "fact_recall=1.01"]) == 1
    assert "Quality gate failed: fact_recall" in capsys.readouterr().out
    assert cli([*argv, "--min", "fact_recall"]) == 1
    assert "METRIC=VALUE" in capsys.readouterr().err
    assert cli([*argv, "--min", "facts=0.5"]) == 1
    assert "unknown metric 'facts'" in capsys.readouterr().err


def test_baseline_pipeline_answers_with_the_top_sentence(
    small_set: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "baseline"
    argv = [
        "eval",
        "--questions",
        str(small_set),
        "--corpus",
        str(BUNDLED_CORPUS),
        "--out",
        str(out),
        "--retriever",
        "baseline",
    ]
    assert cli(argv) == 0
    summary = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert summary["retriever"] == "baseline"
    assert summary["metrics"]["abstention_accuracy"] == 0.0  # the baseline never declines
    assert summary["metrics"]["citation_validity"] == 1.0


def test_bm25_floor_ranks_whole_documents_and_cites_a_sentence(small_set: Path, tmp_path: Path) -> None:
    out = tmp_path / "bm25"
    argv = ["eval", "--questions", str(small_set), "--corpus", str(BUNDLED_CORPUS), "--out", str(out)]
    assert cli([*argv, "--retriever", "bm25"]) == 0
    summary = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert summary["retriever"] == "bm25" and summary["metrics"]["citation_validity"] == 1.0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    retrieved = [r["chunk_id"] for record in records for r in record["retrieved"]]
    assert retrieved and all(chunk_id.endswith("#all") for chunk_id in retrieved), "units are whole documents"
    answered = [record for record in records if not record["abstained"]]
    assert answered and all(record["answer"].endswith("[1]") and len(record["citations"]) == 1 for record in answered)


@pytest.mark.parametrize("retriever", ["baseline", "bm25"])
def test_comparison_pipelines_leave_out_documents_dated_after_the_as_of_date(
    retriever: str, timeline: Assistant
) -> None:
    """Questions are asked on their question_date: a baseline that read later news would be compared unfairly."""
    from contextlib import closing

    from assistant.evaluation.baseline import BaselinePipeline
    from assistant.evaluation.bm25 import DocumentBM25Pipeline
    from assistant.index.publish import open_catalog

    question = "Where did Russian and Ukrainian negotiators meet?"
    with closing(open_catalog(timeline.settings)) as catalog:
        pipeline = (
            BaselinePipeline(timeline.store, timeline.embeddings)
            if retriever == "baseline"
            else DocumentBM25Pipeline(catalog)
        )
    later = [r.chunk.doc_id for r in pipeline.retrieve(question, 10) if (r.chunk.date or "") > "2023-01-01"]
    assert "2026-02-10-after-the-deadline" in later  # without a date, the later talks are found
    early = dt.date(2023, 1, 1)
    found = pipeline.retrieve(question, 10, as_of=early)
    assert found and all((r.chunk.date or "") <= "2023-01-01" for r in found)
    answer = pipeline.ask(question, k=5, as_of=early)
    assert "Istanbul" in answer.text and all((c.date or "") <= "2023-01-01" for c in answer.citations)
