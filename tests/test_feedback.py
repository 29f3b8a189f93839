"""Feedback lines: each one a valid question-set record for `assistant eval`, appended, never interleaved."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

import pytest

from assistant.answer.base import ABSTENTION_REPLY
from assistant.serve.feedback import append_feedback, feedback_record, record_feedback
from assistant.types import Answer, Citation

QUOTE_1 = "Putin continues to reject an immediate ceasefire."
QUOTE_2 = "Kyiv rejects Russia's territorial demands."
CITED = Answer(
    "What does each side want?",
    f"{QUOTE_1} [1] {QUOTE_2} [2]",
    (
        Citation(1, "news/a", "A", "news/a.md", "2025-07-01", "news/a#0:x", QUOTE_1, 10, 59),
        Citation(2, "news/a", "A", "news/a.md", "2025-07-01", "news/a#1:y", QUOTE_2, 70, 112),
    ),
    abstained=False,
)
ABSTAINED = Answer("Who won the 1966 World Cup?", ABSTENTION_REPLY, (), abstained=True)
HISTORY = [("What are Russia's preconditions?", "Putin demands ... [1]")]
# What `assistant eval` reads from a question-set line (eval/README.md and docs/contracts.md).
QUESTION_SET_TYPES = {
    "id": str,
    "question": str,
    "history": list,
    "answerable": bool,
    "evidence": list,
    "evidence_doc_ids": list,
}


def _valid_question_set_line(record: dict[str, object]) -> None:
    assert isinstance(record["id"], str) and record["id"] and isinstance(record["question"], str)
    for field, kind in QUESTION_SET_TYPES.items():
        if field in record:
            assert isinstance(record[field], kind), field
    assert all(isinstance(pair, list) and len(pair) == 2 for pair in record["history"])  # type: ignore[attr-defined]


def test_a_thumbs_up_on_an_answer_labels_its_quotes_as_evidence() -> None:
    now = dt.datetime(2025, 7, 2, 9, 30, tzinfo=dt.UTC)
    record = feedback_record(CITED, HISTORY, "up", now)
    _valid_question_set_line(record)
    assert record["question"] == CITED.question and record["history"] == [list(HISTORY[0])]
    assert record["answer"] == CITED.text and record["verdict"] == "up"
    assert record["time"] == "2025-07-02T09:30:00+00:00"
    assert record["evidence"] == [QUOTE_1, QUOTE_2] and record["evidence_doc_ids"] == ["news/a"]
    assert [c["n"] for c in record["citations"]] == [1, 2] and record["citations"][0]["quote"] == QUOTE_1
    assert "answerable" not in record


def test_a_thumbs_up_on_an_abstention_marks_the_question_unanswerable() -> None:
    record = feedback_record(ABSTAINED, [], "up")
    _valid_question_set_line(record)
    assert record["answerable"] is False and "evidence" not in record and record["citations"] == []


def test_a_thumbs_down_claims_nothing_about_the_right_answer() -> None:
    for answer in (CITED, ABSTAINED):
        record = feedback_record(answer, [], "down")
        _valid_question_set_line(record)
        assert record["verdict"] == "down"
        assert not {"evidence", "evidence_doc_ids", "answerable"} & set(record)


def test_only_up_and_down_are_verdicts() -> None:
    with pytest.raises(ValueError, match="verdict"):
        feedback_record(CITED, [], "meh")  # type: ignore[arg-type]


def test_records_are_appended_as_lines_with_unique_ids(tmp_path: Path) -> None:
    path = tmp_path / "new-folder" / "feedback.jsonl"
    first = record_feedback(path, CITED, HISTORY, "up")
    second = record_feedback(path, ABSTAINED, [], "down")
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert lines == [first, second] and first["id"] != second["id"]


def test_concurrent_verdicts_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "feedback.jsonl"
    big = feedback_record(CITED, HISTORY * 50, "up")  # long lines make interleaving likely if it could happen
    threads = [threading.Thread(target=lambda: [append_feedback(path, big) for _ in range(20)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 160 and all(json.loads(line) == big for line in lines)
