"""Time limits on reading a request, which uvicorn lacks: without them a client that opens a connection and
sends nothing, or sends its headers or body a few bytes at a time (slowloris), holds the connection for ever.

The rule is Apache's (mod_reqtimeout's default, `header=20-40,MinRate=500 body=20,MinRate=500`), with the
base time from Settings.read_timeout: the headers of a request must arrive within it, plus a second for every
500 bytes received, and never more than twice it; the body within it, plus a second for every 500 bytes. Past
that the client gets a 408 (when a request was begun and nothing answered yet) and the connection is closed;
the app sees a client that went away. Time the app spends answering is not counted, nor time the server is
not reading because the app has not yet taken what came. Between requests uvicorn's keep-alive timeout (5 s)
still closes an idle connection first.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from assistant.serve.guard import error_body

MIN_RATE = 500  # bytes a second a slow client must keep up to earn more time (Apache's MinRate)
TOO_SLOW = "The request came too slowly and the connection was closed; send it again, at once."
_BODY = json.dumps(error_body("RequestTimeout", TOO_SLOW)).encode()
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
    b"connection: close\r\n\r\n%s" % (len(_BODY), _BODY)
)


def timed_protocol(read_timeout: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol (httptools) with the time limits above; uvicorn.run(..., http=this)."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class TimedHttpProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._reading: _Reading | None = None
            self._timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._read("headers")

        def data_received(self, data: bytes) -> None:
            if self._reading is not None:
                self._reading.received += len(data)
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._reading is None:  # a pipelined request, begun while the previous one is answered
                self._read("headers")

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._read("body")

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._stop()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if self._reading is None and self.cycle.response_complete and not self.transport.is_closing():
                self._read("headers")  # the next request's

        def handle_websocket_upgrade(self) -> None:
            self._stop()  # the connection is the WebSocket protocol's from here on
            super().handle_websocket_upgrade()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop()
            super().connection_lost(exc)

        def _read(self, part: str) -> None:
            self._stop()
            self._reading = _Reading(part, time.monotonic())
            self._timer = self.loop.call_later(read_timeout, self._check)

        def _stop(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._reading = None, None

        def _check(self) -> None:
            reading, self._timer = self._reading, None
            if reading is None or self.transport.is_closing():
                return
            now = time.monotonic()
            if self.flow.read_paused:  # the app has not taken what came: not the client's delay
                reading.started, reading.received = now, 0
            allowed = read_timeout + reading.received / MIN_RATE
            if reading.part == "headers":
                allowed = min(allowed, 2 * read_timeout)
            left = reading.started + allowed - now
            if left > 0:
                self._timer = self.loop.call_later(left, self._check)
                return
            self.logger.info(
                "Closed a connection from %s: its request's %s came too slowly.", self.client, reading.part
            )
            if reading.received > 0 if reading.part == "headers" else not self.cycle.response_started:
                self.transport.write(REQUEST_TIMEOUT)  # a request begun and not yet answered
            self._reading = None
            self.transport.close()

    return TimedHttpProtocol


@dataclass
class _Reading:
    """What part of a request a connection is reading, since when, and how many bytes came meanwhile."""

    part: str  # "headers" or "body"
    started: float
    received: int = 0
