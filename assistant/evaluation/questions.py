"""Evaluation question sets: JSONL, one question a line; unknown fields are kept and ignored."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assistant.errors import UsageError
from assistant.retrieval.timeframe import parse_date


@dataclass(frozen=True)
class EvalQuestion:
    """One line of a question set (docs/contracts.md); unknown fields are kept in `extra` and ignored."""

    id: str
    question: str
    history: list[tuple[str, str]] = field(default_factory=list)
    answerable: bool = True
    answers: list[str] = field(default_factory=list)
    key_facts: list[list[str]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    evidence_doc_ids: list[str] = field(default_factory=list)
    question_date: dt.date | None = None  # the date it was asked: its as_of
    extra: dict[str, Any] = field(default_factory=dict)


def load_questions(path: Path) -> list[EvalQuestion]:
    """Read a JSONL question set; a bad line is an error that names the line."""
    if not path.is_file():
        raise UsageError(f"Question set '{path}' does not exist.")
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where} is not valid JSON ({exc.msg}).") from None
        if (
            not isinstance(record, dict)
            or not str(record.get("id", "")).strip()
            or not str(record.get("question", "")).strip()
        ):
            raise UsageError(f'{where} needs an "id" and a "question".')
        if str(record["id"]) in seen:
            raise UsageError(f'{where} repeats the id "{record["id"]}".')
        seen.add(str(record["id"]))
        questions.append(_question(record, where))
    if not questions:
        raise UsageError(f"Question set '{path}' holds no questions.")
    return questions


def _question(record: dict[str, Any], where: str) -> EvalQuestion:
    known = {
        "id",
        "question",
        "history",
        "answerable",
        "answers",
        "key_facts",
        "evidence",
        "evidence_doc_ids",
        "question_date",
    }
    try:
        history = [(str(user), str(reply)) for user, reply in record.get("history") or []]
        key_facts = [
            [str(a) for a in (group if isinstance(group, list) else [group])] for group in record.get("key_facts") or []
        ]
    except (TypeError, ValueError):
        raise UsageError(
            f'{where}: "history" must be a list of [user, assistant] pairs and "key_facts" a list of lists.'
        ) from None
    try:
        question_date = (
            parse_date(str(record["question_date"]), "question_date") if record.get("question_date") else None
        )
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from None
    answerable = record.get("answerable")
    return EvalQuestion(
        id=str(record["id"]),
        question=str(record["question"]),
        history=history,
        answerable=True if answerable is None else bool(answerable),
        answers=[str(a) for a in record.get("answers") or []],
        key_facts=key_facts,
        evidence=[str(e) for e in record.get("evidence") or []],
        evidence_doc_ids=[str(d) for d in record.get("evidence_doc_ids") or []],
        question_date=question_date,
        extra={k: v for k, v in record.items() if k not in known},
    )
