"""Thumbs up/down from the web chat, appended to a JSONL file that `assistant eval` reads as a question set.

Each line is a question-set record (id, question, history) plus what the chat answered and the verdict.
A thumbs-up makes the line a labelled question: the cited quotes become its evidence, or, for an
abstention, it is marked unanswerable.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from assistant.types import Answer

Verdict = Literal["up", "down"]

_appending = threading.Lock()


def feedback_record(
    answer: Answer, history: Sequence[tuple[str, str]], verdict: Verdict, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The question-set line for a verdict on an answer; history is the turns before it, oldest first."""
    if verdict not in ("up", "down"):
        raise ValueError(f"verdict must be 'up' or 'down', not {verdict!r}")
    now = now or dt.datetime.now(dt.UTC)
    record: dict[str, Any] = {
        "id": f"feedback-{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}",
        "question": answer.question,
        "history": [[user, reply] for user, reply in history],
        "answer": answer.text,
        "abstained": answer.abstained,
        "citations": [citation.to_json() for citation in answer.citations],
        "verdict": verdict,
        "time": now.isoformat(timespec="seconds"),
    }
    if verdict == "up" and answer.abstained:
        record["answerable"] = False
    elif verdict == "up":
        record["evidence"] = list(dict.fromkeys(c.quote for c in answer.citations if c.quote))
        record["evidence_doc_ids"] = list(dict.fromkeys(c.doc_id for c in answer.citations))
    return record


def append_feedback(path: Path, record: dict[str, Any]) -> None:
    """Append one record as a line of JSON, creating the file and its folder when needed."""
    line = json.dumps(record, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    # One write of one line under a lock: concurrent verdicts never interleave within a line.
    with _appending, path.open("a", encoding="utf-8") as file:
        file.write(line)


def record_feedback(path: Path, answer: Answer, history: Sequence[tuple[str, str]], verdict: Verdict) -> dict[str, Any]:
    """Build the record for a verdict and append it to the feedback file; returns the record."""
    record = feedback_record(answer, history, verdict)
    append_feedback(path, record)
    return record
