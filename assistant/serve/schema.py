"""The request and response records of the REST API: pydantic models, so the OpenAPI schema documents them.

Requests are validated here (sizes, ranges, dates), so a bad request is a 422 with the field and the problem.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from assistant.errors import UsageError
from assistant.ingest.load import file_type_names
from assistant.limits import MAX_HISTORY_TURNS, MAX_K, MAX_QUESTION_CHARS, MAX_TURN_CHARS, MIN_K
from assistant.retrieval.timeframe import parse_date
from assistant.types import Citation, Filters, check_date, make_filters

_Text = Annotated[str, StringConstraints(max_length=MAX_TURN_CHARS)]
# A character that is not white space as Python sees it (str.isspace), spelt out so JSON Schema says the same.
_NOT_BLANK = "[^\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
_Question = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS, pattern=_NOT_BLANK),
]


def _date(value: str) -> str:
    try:
        return check_date(value)
    except UsageError as exc:
        raise ValueError(str(exc)) from None


def _as_of(value: str) -> str:
    # The one rule every entry point reads an as-of date by (timeframe.parse_date); over REST a blank one is
    # an error, not "today": the schema says it is a date, and null (or leaving it out) means today.
    if not value.strip():
        raise ValueError("as_of is blank: give a date (YYYY-MM-DD), or leave it out (null) to ask as of today")
    try:
        parsed = parse_date(value)
    except UsageError as exc:
        raise ValueError(str(exc)) from None
    return parsed.isoformat() if parsed else value


def _whole_number(value: Any) -> Any:
    # JSON's 3 and 3.0 are the same integer; "3" and true are not numbers.
    if isinstance(value, str | bool):
        raise ValueError("Input should be a valid integer")
    return value


# YYYY-MM-DD and a real day, and declared so, so that clients and schema-driven tools know.
_Date = Annotated[str, AfterValidator(_date), WithJsonSchema({"type": "string", "format": "date"})]
_AsOfDate = Annotated[str, AfterValidator(_as_of), WithJsonSchema({"type": "string", "format": "date"})]
_Count = Annotated[
    int, Field(ge=MIN_K, le=MAX_K), BeforeValidator(_whole_number)
]  # this order: the schema gets the range
_DocId = Annotated[str, StringConstraints(max_length=500)]
_Tag = Annotated[str, StringConstraints(max_length=200)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: _Count | None = Field(default=None, description="Passages to retrieve, 1 to 50 (default: the server's k).")
    doc_ids: list[_DocId] = Field(default_factory=list, max_length=200, description="Only these documents.")
    date_from: _Date | None = Field(default=None, description="Only documents dated on or after (YYYY-MM-DD).")
    date_to: _Date | None = Field(default=None, description="Only documents dated on or before (YYYY-MM-DD).")
    tags: list[_Tag] = Field(default_factory=list, max_length=50, description="Only documents with one of these tags.")
    voice: list[_Tag] | _Tag = Field(
        default_factory=list,
        max_length=50,
        description="Only documents of this voice ('Russia: government') or side ('Russia'), or of one of these.",
    )
    as_of: _AsOfDate | None = Field(
        default=None,
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
            self.filters()
        except UsageError as exc:
            raise ValueError(str(exc)) from None
        return self

    def filters(self) -> Filters:
        voices = [self.voice] if isinstance(self.voice, str) else self.voice
        return make_filters(self.doc_ids, self.date_from, self.date_to, self.tags, voices)


class RetrieveRequest(_Request):
    query: _Question = Field(description="What to search the corpus for.")


class AskRequest(_Request):
    question: _Question = Field(description="The question to answer from the corpus.")
    mode: Literal["extractive", "chat"] | None = Field(
        default=None, description="extractive quotes the corpus; chat uses the configured chat model; default picks."
    )
    stream: StrictBool = Field(
        default=False, description="Stream server-sent events (also: Accept: text/event-stream)."
    )


# A supported suffix, in any case (JSON Schema's regular expressions have no flag for that).
_UPLOAD_NAME = r"\.([Tt][Xx][Tt]|[Mm][Dd]|[Mm][Aa][Rr][Kk][Dd][Oo][Ww][Nn]|[Hh][Tt][Mm][Ll]?|[Pp][Dd][Ff])$"


class DocumentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    filename: str = Field(
        min_length=1,
        max_length=200,
        pattern=_UPLOAD_NAME,
        description=f"File name; its suffix gives the type ({file_type_names(uploads=True)}).",
    )
    content: str = Field(min_length=1, description="The file's content: text, or base64 when encoding is base64 (PDF).")
    encoding: Literal["text", "base64"] = "text"
    replace: StrictBool = Field(
        default=False,
        description="Replace an earlier upload of this name; otherwise a taken name is saved as a numbered one.",
    )


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
    voice: str | None = Field(default=None, description="Whose position the document states, when known.")
    publisher: str | None = Field(default=None, description="Who published the document, when known.")
    license: str | None = Field(default=None, description="The document's licence, when known.")


class RetrieveResponse(BaseModel):
    query: str
    results: list[ChunkRecord]


class TimeFrameRecord(BaseModel):
    phrase: str = Field(description='The words of the question that name a time ("this week").')
    start: str = Field(description="The first day they were read as (YYYY-MM-DD).")
    end: str = Field(description="The last day (YYYY-MM-DD); never after the as-of date.")


class AskResponse(BaseModel):
    """The object `assistant ask --json` prints."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation]  # the record itself: its fields are the wire format (url only when known)
    nearest: list[Citation] = Field(
        description="After an abstention, the sentences that came closest to answering (not an answer); else empty."
    )
    time_frame: TimeFrameRecord | None = Field(
        description="The time the question names, as the dates it was read as relative to as_of; null when none."
    )
    timings_ms: dict[str, float]


class DocumentResponse(BaseModel):
    doc_ids: list[str]
    stored_as: str = Field(description="Where it was saved, relative to the corpus folder (uploads/report-2.txt).")
    renamed: bool = Field(description="Saved under another name than the one sent (made safe, or taken).")
    name_taken: bool = Field(description="Its name was taken by an earlier upload, so it got a numbered one.")
    replaced: list[str] = Field(description="Earlier uploads it replaced (only when replace was asked for).")
    chunks_added: int
    ingest: dict[str, Any] = Field(description="The ingest summary, as `assistant ingest --json` prints it.")


class ErrorResponse(BaseModel):
    error: dict[str, Any] = Field(description='{"type": ..., "message": ...}; validation errors add "details".')


ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (400, 401, 409, 422, 503, 507)}
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
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "replace": {"type": "boolean", "default": False},
                },
                "required": ["file"],
            }
        },
        "application/json": {"schema": DocumentRequest.model_json_schema()},
    },
}
