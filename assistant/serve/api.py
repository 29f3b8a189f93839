"""The REST API (FastAPI): served beside the web chat by `assistant serve`, alone by `assistant api`.

Routes live under /v1 (and /health), so the web chat can be mounted at "/" on the same app. Every
error is a JSON body `{"error": {"type", "message"}}` with a status code, never a traceback.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import itertools
import json
import logging
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.routing import Match

from assistant.errors import (
    AssistantError,
    BackendError,
    CorpusError,
    IndexMissingError,
    NotConfiguredError,
    NotFoundError,
    StorageError,
    UsageError,
)
from assistant.pipeline import Assistant
from assistant.serve.guard import MISSING_KEY, WRONG_KEY, BodyTooLarge, Guard, error_body
from assistant.serve.schema import (
    ERRORS,
    SSE_DOC,
    UPLOAD_SCHEMA,
    AskRequest,
    AskResponse,
    DocumentRequest,
    DocumentResponse,
    RetrieveRequest,
    RetrieveResponse,
)
from assistant.serve.sources_api import sources_router
from assistant.settings import Settings
from assistant.sources.schedule import Schedule
from assistant.types import Answer


class _NotConfigured(AssistantError):
    """A valid request that this server is not set up for: a 409, like a corpus with no index yet."""


# Who is at fault decides the status: the caller (4xx) or a service we depend on (503).
_STATUS: dict[type[AssistantError], int] = {
    NotFoundError: 404,
    UsageError: 400,
    IndexMissingError: 409,
    CorpusError: 409,
    BackendError: 503,
    StorageError: 507,  # Insufficient Storage: the server cannot store what the request needs, until it is fixed
    _NotConfigured: 409,
    NotConfiguredError: 409,
}
_log = logging.getLogger(__name__)
NO_CHAT_MODEL = "This server has no chat model; ask with mode 'extractive' (its operator can set ASSISTANT_LLM)."
# Module level: FastAPI resolves the string annotations of dependencies in the module's namespace.
_BEARER = HTTPBearer(auto_error=False, description="The server's ASSISTANT_API_KEY.")


def create_app(assistant: Assistant, schedule: Schedule | None = None) -> FastAPI:
    """The API application for one assistant; /v1 requires `Authorization: Bearer` when settings.api_key is set.

    While it runs, `schedule` (by default one over the assistant's sources) syncs the sources when they are
    due and ingests what they bring, unless ASSISTANT_SOURCES_SCHEDULE is off."""
    schedule = schedule or Schedule(assistant.settings, assistant.ingest)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        schedule.start()
        try:
            yield
        finally:
            await run_in_threadpool(schedule.stop)

    app = FastAPI(
        title="Conflict-corpus assistant",
        version="0.1.0",
        description="Answers from a news corpus alone, with a citation on every claim.",
        lifespan=lifespan,
    )
    _add_error_handlers(app)
    v1 = APIRouter(
        prefix="/v1",
        dependencies=[Depends(_key_check(assistant.settings.api_key))] if assistant.settings.api_key else [],
    )

    @app.get("/health")
    def health() -> dict[str, Any]:
        try:
            chunks: int | None = assistant.status().chunks
        except IndexMissingError:
            chunks = None
        store = "chroma-server" if assistant.settings.chroma_url else "embedded"
        return {"status": "ok", "collection": assistant.settings.index_name(), "chunks": chunks, "vector_store": store}

    @v1.post("/retrieve", response_model=RetrieveResponse, responses=ERRORS)
    def retrieve(body: RetrieveRequest) -> JSONResponse:
        """The k best chunks for a query, best first, with scores and metadata."""
        results = assistant.retrieve(
            body.query, k=body.k, filters=body.filters(), history=body.history, as_of=body.as_of
        )
        return JSONResponse({"query": body.query, "results": [result.to_json() for result in results]})

    @v1.post("/ask", response_model=AskResponse, responses={**ERRORS, 200: {"content": SSE_DOC}})
    def ask(body: AskRequest, request: Request) -> Response:
        """Answer a question with citations, or abstain; streamed as server-sent events when asked."""
        if body.mode == "chat" and assistant.chat_model is None:
            raise _NotConfigured(NO_CHAT_MODEL)
        args = (body.question, body.history, body.k, body.filters(), body.mode, body.as_of)
        if not (body.stream or "text/event-stream" in request.headers.get("accept", "")):
            return JSONResponse(assistant.ask(*args).to_json())
        events = assistant.ask_stream(*args)
        first = next(events)  # bad input or a missing index raise here, before any byte: a proper status code
        return StreamingResponse(
            _sse(itertools.chain([first], events)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @v1.post(
        "/documents",
        status_code=201,
        response_model=DocumentResponse,
        responses=ERRORS,
        openapi_extra={"requestBody": UPLOAD_SCHEMA},
    )
    async def add_document(request: Request) -> JSONResponse:
        """Add a document (multipart field `file`, or JSON {filename, content}) and index it at once."""
        filename, data, replace = await _upload(request)
        stored = await run_in_threadpool(assistant.add_document, filename, data, replace)
        return JSONResponse(stored.to_json(), status_code=201)

    for router in sources_router(assistant, schedule):
        v1.include_router(router)
    app.include_router(v1)
    # Outermost of our layers: it answers before FastAPI reads a body, for the routes mounted later too.
    app.add_middleware(
        Guard, api_key=assistant.settings.api_key, upload_bytes=int(assistant.settings.max_upload_mb * 1024 * 1024)
    )
    return app


def _key_check(api_key: str) -> Any:
    # Guard refuses a missing or wrong key before the body is read; this dependency puts the bearer scheme
    # in the OpenAPI schema and checks again, in case the app is served without Guard.
    def check(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if credentials is None:
            raise _Unauthorized(MISSING_KEY)
        if not secrets.compare_digest(credentials.credentials.encode(), api_key.encode()):
            raise _Unauthorized(WRONG_KEY)

    return check


class _Unauthorized(Exception):
    pass


async def _upload(request: Request) -> tuple[str, bytes, bool]:
    """The uploaded file's name, its bytes and whether to replace an earlier upload, from a form or JSON."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UsageError("Send the document in a multipart form field named 'file'.")
        replace = str(form.get("replace") or "false").strip().lower()
        if replace not in ("true", "false"):
            raise UsageError(f"The form field 'replace' is '{replace[:20]}'; send true or false.")
        return upload.filename or "", await upload.read(), replace == "true"
    if kind.startswith("application/json"):
        try:
            body = DocumentRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        if body.encoding == "text":
            return body.filename, body.content.encode(), body.replace
        try:
            return body.filename, base64.b64decode(body.content, validate=True), body.replace
        except (binascii.Error, ValueError):  # ValueError: characters outside ASCII
            raise UsageError(
                "content is not valid base64; encode the file's bytes as base64 or send it as text."
            ) from None
    raise UsageError("Send the document as multipart/form-data (field 'file') or as JSON {filename, content}.")


def _sse(events: Iterator[str | Answer]) -> Iterator[str]:
    try:
        for event in events:
            if isinstance(event, Answer):
                yield _event("answer", event.to_json())
            else:
                yield _event("delta", {"text": event})
    except AssistantError as exc:
        yield _event("error", error_body(type(exc).__name__, str(exc)))
    except Exception as exc:  # the stream has started: the status is sent, so the failure goes in an event
        _log.exception("streaming an answer failed")
        yield _event("error", error_body("InternalError", f"unexpected failure ({type(exc).__name__})"))


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _add_error_handlers(app: FastAPI) -> None:
    async def assistant_error(request: Request, exc: Exception) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 500)
        return JSONResponse(error_body(type(exc).__name__, str(exc)), status_code=status)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {
                "field": ".".join(str(part) for part in error["loc"] if part != "body") or "body",
                "problem": error["msg"].removeprefix("Value error, "),  # pydantic's prefix for our own checks
            }
            for error in exc.errors()
        ]
        message = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
        body = error_body("ValidationError", f"Invalid request: {message}.")
        return JSONResponse({"error": {**body["error"], "details": problems}}, status_code=422)

    async def unauthorized(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            error_body("AuthenticationError", str(exc)), status_code=401, headers={"WWW-Authenticate": "Bearer"}
        )

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        kind = "RequestTooLarge" if isinstance(exc, BodyTooLarge) else "HTTPError"
        headers = exc.headers
        if exc.status_code == 405:  # Starlette names the methods of one route; a path may have several
            headers = {**(headers or {}), "Allow": ", ".join(_methods_of(request))}
        return JSONResponse(error_body(kind, str(exc.detail)), status_code=exc.status_code, headers=headers)

    app.add_exception_handler(AssistantError, assistant_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(_Unauthorized, unauthorized)
    app.add_exception_handler(HTTPException, http_error)


def _methods_of(request: Request) -> list[str]:
    """Every method some route serves at the request's path."""
    routes = request.app.router.routes
    return [
        method
        for method in ("DELETE", "GET", "PATCH", "POST", "PUT")
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    ]


def is_loopback(host: str) -> bool:
    """Whether a listen address is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, host: str) -> None:
    """Refuse to listen beyond loopback without an API key (used by `assistant api` and `assistant serve`)."""
    if not settings.api_key and not is_loopback(host):
        raise UsageError(
            f"Refusing to listen on {host} without an API key: anyone who reaches it could query and change "
            "the corpus. Set ASSISTANT_API_KEY to a secret (clients send `Authorization: Bearer <key>`), "
            "or listen on 127.0.0.1."
        )


# How long a stopping server (SIGTERM, Ctrl+C) waits for requests in progress: uvicorn's default is for ever,
# so one slow client or upload kept it running until killed. An upload cut short is not kept (upload.py).
SHUTDOWN_GRACE_SECONDS = 5


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options for `assistant api` and `assistant serve`: forwarded headers only from trusted proxies
    (uvicorn's default trusts them from 127.0.0.1, so any local client could pose as any address), and time
    limits on reading a request (timeouts.py)."""
    from assistant.serve.timeouts import timed_protocol

    proxies = ",".join(address.strip() for address in (settings.trusted_proxies or "").split(",") if address.strip())
    return {
        "http": timed_protocol(settings.read_timeout),
        "proxy_headers": bool(proxies),
        "forwarded_allow_ips": proxies or None,
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
    }


def run_api(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the REST API with uvicorn until interrupted."""
    check_exposure(settings, host)
    import uvicorn

    uvicorn.run(create_app(Assistant(settings)), host=host, port=port, **server_options(settings))
