"""The gate in front of every route of `assistant api` and `assistant serve`, as one ASGI middleware.

It checks the API key before a byte of the body is read, caps the body while it streams (by its
Content-Length, and by counting when it is chunked), slows down guessing of the key (bearer or the web
chat's sign-in) with a token bucket per client address (an address that has used its bucket up has one
request at a time held until it may try again, then checked: the right key gets in a few seconds late, and
every other request meanwhile is refused unread, so guesses stay one per refill period), and turns an
unexpected failure into a JSON 500 that leaves the connection usable (an exception that reaches the server
makes it drop the connection).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Largest JSON (or form) body of any route but the uploads: a question with 20 turns of history in the
# most escaped JSON (6 bytes a character) takes under 2 MB.
MAX_BODY_BYTES = 4 * 1024 * 1024
# Routes that carry a document: the upload limit, with room for base64 (4/3) and the form's framing.
UPLOAD_PATHS = ("/v1/documents", "/gradio_api/upload")
LOGIN_PATHS = ("/login", "/login/")
# Failed sign-ins a client may make at once, and how fast it earns another.
SIGN_IN_BURST = 10
SIGN_IN_REFILL_SECONDS = 3.0
_MAX_CLIENTS = 10_000

MISSING_KEY = "This server requires an API key: send the header `Authorization: Bearer <key>`."
WRONG_KEY = "The API key is wrong: send the key the server was started with (ASSISTANT_API_KEY)."

_log = logging.getLogger(__name__)
_sleep = asyncio.sleep  # how a held request waits (tests let time pass instead)


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The JSON of every error reply: {"error": {"type", "message"}}."""
    return {"error": {"type": kind, "message": message}}


class BodyTooLarge(HTTPException):
    """Raised while a body streams in past its limit; FastAPI passes HTTP exceptions on to their handler."""

    def __init__(self, message: str) -> None:
        super().__init__(413, message)


@dataclass
class _Bucket:
    tokens: float
    at: float


class SignInLimiter:
    """A token bucket of failed sign-ins per client address: a burst, then one more every refill period."""

    def __init__(self, burst: int = SIGN_IN_BURST, refill_seconds: float = SIGN_IN_REFILL_SECONDS) -> None:
        self.burst = burst
        self.refill_seconds = refill_seconds
        self._buckets: dict[str, _Bucket] = {}

    def wait(self, client: str) -> float:
        """Seconds until client may try again; 0 when it may now."""
        bucket = self._bucket(client)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) * self.refill_seconds

    def failed(self, client: str) -> None:
        """Count a failed sign-in of client."""
        self._bucket(client).tokens -= 1
        if len(self._buckets) > _MAX_CLIENTS:  # forget the clients that are back to a full bucket, then the oldest
            for key in [key for key in self._buckets if self._bucket(key).tokens >= self.burst]:
                del self._buckets[key]
            while len(self._buckets) > _MAX_CLIENTS // 2:
                del self._buckets[next(iter(self._buckets))]

    def _bucket(self, client: str) -> _Bucket:
        now = time.monotonic()
        bucket = self._buckets.setdefault(client, _Bucket(self.burst, now))
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) / self.refill_seconds)
        bucket.at = now
        return bucket


class Guard:
    """ASGI middleware: key before body, body cap while streaming, sign-in limit, JSON 500 that keeps the connection."""

    def __init__(self, app: ASGIApp, api_key: str | None, upload_bytes: int) -> None:
        """api_key: what /v1 requires (None: nothing); upload_bytes: the largest document a user may upload."""
        self.app = app
        self.api_key = api_key
        self.upload_limit = upload_bytes * 4 // 3 + 64 * 1024
        self.upload_message = f"The upload is larger than the limit of {_megabytes(upload_bytes)}; send a smaller file."
        self.body_message = f"The request body is larger than the limit of {_megabytes(MAX_BODY_BYTES)}; send less."
        self.limiter = SignInLimiter()
        self._held: set[str] = set()  # locked-out addresses with a request waiting out the lockout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        client = (scope.get("client") or ("unknown",))[0]
        needs_key = bool(self.api_key) and (path == "/v1" or path.startswith("/v1/"))
        signs_in = bool(self.api_key) and scope["method"] == "POST" and path in LOGIN_PATHS
        if needs_key or signs_in:
            wait = self.limiter.wait(client)
            if wait and client in self._held:
                retry = math.ceil(wait)
                message = f"Too many failed sign-ins from this address; try again in {retry} s."
                await _reply(send, 429, error_body("TooManyFailedSignIns", message), {"retry-after": str(retry)})
                return
            if wait:  # held, then checked as any: its key is compared only once the address may try again
                self._held.add(client)
                try:
                    await _sleep(wait)
                finally:
                    self._held.discard(client)
        if needs_key:
            problem = self._key_problem(headers.get("authorization", ""))
            if problem == WRONG_KEY:  # a missing key is no guess
                self.limiter.failed(client)
            if problem:
                await _reply(send, 401, error_body("AuthenticationError", problem), {"www-authenticate": "Bearer"})
                return
        upload = path in UPLOAD_PATHS
        too_large = BodyTooLarge(self.upload_message if upload else self.body_message)
        limit = self.upload_limit if upload else MAX_BODY_BYTES
        try:
            declared = int(headers.get("content-length") or 0)
        except ValueError:
            declared = 0
        if declared > limit:
            await _reply(send, 413, error_body("RequestTooLarge", too_large.detail))
            return
        await self._run(scope, receive, send, limit, too_large, client if signs_in else None)

    def _key_problem(self, authorization: str) -> str | None:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return MISSING_KEY
        assert self.api_key is not None
        if not secrets.compare_digest(credentials.strip().encode(), self.api_key.encode()):
            return WRONG_KEY
        return None

    async def _run(
        self, scope: Scope, receive: Receive, send: Send, limit: int, too_large: BodyTooLarge, signing_in: str | None
    ) -> None:
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise too_large
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if signing_in is not None and message["status"] in (400, 401):  # Gradio's "Incorrect credentials"
                    self.limiter.failed(signing_in)
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:
            if not started:
                await _reply(send, 413, error_body("RequestTooLarge", exc.detail))
        except Exception as exc:
            _log.exception("%s %s failed", scope["method"], scope["path"])
            if not started:
                message = f"Unexpected failure ({type(exc).__name__}); see the server log."
                await _reply(send, 500, error_body("InternalError", message))


async def _reply(send: Send, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    data = json.dumps(body).encode()
    fields = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    fields += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": fields})
    await send({"type": "http.response.body", "body": data})


def _megabytes(size: int) -> str:
    return f"{size / 1048576:g} MB"
