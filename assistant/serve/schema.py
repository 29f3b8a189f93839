"""The request and response records of the REST API: pydantic models, so the OpenAPI schema documents them.

Requests are validated here (sizes, ranges, dates), so a bad request is a 422 with the field and the problem.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from assistant.errors import UsageError
from assistant.ingest.load import file_type_names
from assistant.limits import MAX_HISTORY_TURNS, MAX_K, MAX_QUESTION_CHARS, MAX_TURN_CHARS, MIN_K
from assistant.types import Citation, Filters, make_filters

_Text = Annotated[str, StringConstraints(max_length=MAX_TURN_CHARS)]
_Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: int | None = Field(
        default=None, ge=MIN_K, le=MAX_K, description="Passages to retrieve (default: the server's k)."
    )
    doc_ids: list[str] = Field(default_factory=list, max_length=200, description="Only these documents.")
    date_from: str | None = Field(default=None, description="Only documents dated on or after (YYYY-MM-DD).")
    date_to: str | None = Field(default=None, description="Only documents dated on or before (YYYY-MM-DD).")
    tags: list[str] = Field(default_factory=list, max_length=50, description="Only documents with one of these tags.")
    as_of: dt.date | None = Field(
        default=None,
        strict=True,
        description="The date the question is asked from (YYYY-MM-DD; default today): later documents are not "
        "used, and 'this week' or 'last year' are read relative to it.",
    )
    history: list[tuple[_Text, _Text]] = Field(
        default_factory=list,
        max_length=MAX_HISTORY_TURNS,
        description="Earlier turns as [user, assistant] pairs, oldest first.",
    )

    @model_validator(mode="after")
    def _valid_filters(self) -> _Request:
        try:
            make_filters(self.doc_ids, self.date_from, self.date_to, self.tags)
        except UsageError as exc:
            raise ValueError(str(exc)) from None
        return self

    def filters(self) -> Filters:
        return make_filters(self.doc_ids, self.date_from, self.date_to, self.tags)


class RetrieveRequest(_Request):
    query: _Question = Field(description="What to search the corpus for.")


class AskRequest(_Request):
    question: _Question = Field(description="The question to answer from the corpus.")
    mode: Literal["extractive", "chat"] | None = Field(
        default=None, description="extractive quotes the corpus; chat uses the configured chat model; default picks."
    )
    stream: bool = Field(default=False, description="Stream server-sent events (also: Accept: text/event-stream).")


class DocumentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(
        min_length=1,
        max_length=200,
        description=f"File name; its suffix gives the type ({file_type_names(uploads=True)}).",
    )
    content: str = Field(description="The file's content: text, or base64 when encoding is base64 (PDF).")
    encoding: Literal["text", "base64"] = "text"


class ChunkRecord(BaseModel):
    """A retrieved chunk, as `assistant retrieve --json` prints it."""

    rank: int
    score: float
    dense_rank: int | None
    lexical_rank: int | None
    text: str
    chunk_id: str
    doc_id: str
    title: str
    source: str
    date: str | None
    tags: list[str]
    url: str | None
    start: int
    end: int


class RetrieveResponse(BaseModel):
    query: str
    results: list[ChunkRecord]


class AskResponse(BaseModel):
    """The object `assistant ask --json` prints."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation]  # the record itself: its fields are the wire format (url only when known)
    timings_ms: dict[str, float]


class DocumentResponse(BaseModel):
    doc_ids: list[str]
    chunks_added: int
    ingest: dict[str, Any] = Field(description="The ingest summary, as `assistant ingest --json` prints it.")


class ErrorResponse(BaseModel):
    error: dict[str, Any] = Field(description='{"type": ..., "message": ...}; validation errors add "details".')


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (400, 401, 409, 422, 503)}
SSE_DOC = {
    "text/event-stream": {
        "description": "With stream=true: `delta` events {text}, then one `answer` event (the JSON above); "
        "`error` {error} if it fails midway."
    }
}
UPLOAD_SCHEMA = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"file": {"type": "string", "format": "binary"}},
                "required": ["file"],
            }
        },
        "application/json": {"schema": DocumentRequest.model_json_schema()},
    },
}
