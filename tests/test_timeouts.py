"""Time limits on reading a request, against a real `assistant api` process over raw sockets on loopback: a
silent connection, headers or a body sent a byte at a time (slowloris) are closed, a steady client is not."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator

import pytest

from assistant.serve.timeouts import TOO_SLOW

from .servers import assistant_api, free_port

pytestmark = pytest.mark.server
READ_TIMEOUT = 2  # seconds (ASSISTANT_READ_TIMEOUT): headers get at most twice it, a body it plus 1 s per 500 bytes
NEVER = 15.0  # how long a test waits before deciding the server would keep the connection for ever


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    root = tmp_path_factory.mktemp("timeouts")
    env = {
        "ASSISTANT_CORPUS_DIR": str(root / "corpus"),
        "ASSISTANT_INDEX_DIR": str(root / "index"),
        "ASSISTANT_READ_TIMEOUT": str(READ_TIMEOUT),
    }
    server = assistant_api(free_port(), root / "api.log", env).start()
    yield int(server.ready_url.split(":")[2].split("/")[0])
    server.stop()


def _trickle(port: int, head: bytes, rest: bytes, every: float) -> tuple[bytes, float | None]:
    """Send head, then rest a byte every `every` seconds; what the server sent, and after how many seconds it
    closed the connection (None: still open after NEVER seconds)."""
    started = time.monotonic()
    received = b""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        left = iter(rest)
        while time.monotonic() - started < NEVER:
            if select.select([sock], [], [], every)[0]:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if not chunk:
                    return received, time.monotonic() - started
                received += chunk
                continue
            byte = next(left, None)
            if byte is not None:
                with contextlib.suppress(OSError):  # closed under us: the next read says so
                    sock.send(bytes([byte]))
    return received, None


def test_a_connection_that_sends_nothing_is_closed(port: int) -> None:
    received, closed = _trickle(port, b"", b"", 0.1)
    assert closed is not None, "a silent connection was kept open"
    assert READ_TIMEOUT - 0.5 <= closed <= READ_TIMEOUT + 3 and received == b""


def test_headers_sent_a_byte_at_a_time_get_a_408_and_the_connection_closed(port: int) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    received, closed = _trickle(port, head, b"X-Slow: " + b"a" * 200 + b"\r\n\r\n", 0.2)  # 40 s to send in full
    assert closed is not None, "a client sending its headers a byte at a time was kept connected"
    assert closed <= 2 * READ_TIMEOUT + 3 and received.startswith(b"HTTP/1.1 408 ")
    assert json.loads(received.partition(b"\r\n\r\n")[2])["error"]["message"] == TOO_SLOW


def test_a_body_sent_a_byte_at_a_time_gets_a_408_and_the_connection_closed(port: int) -> None:
    head = b"POST /v1/retrieve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: 200\r\n\r\n"
    received, closed = _trickle(port, head, b'{"query": "' + b"a" * 186 + b'"}', 0.2)
    assert closed is not None, "a client sending its body a byte at a time was kept connected"
    assert closed <= READ_TIMEOUT + 3 and received.startswith(b"HTTP/1.1 408 ")


def test_a_steady_client_is_not_cut_short(port: int) -> None:
    """A body that takes longer than the base time, at more than 500 bytes a second, is read whole."""
    body = b'{"query": "' + b"a" * 1987 + b'"}'
    head = b"POST /v1/retrieve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(head)
        for start in range(0, len(body), 200):  # 2,000 bytes over 3 s: 667 bytes a second
            time.sleep(0.3)
            sock.sendall(body[start : start + 200])
        sock.settimeout(30)
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert time.monotonic() - started > READ_TIMEOUT + 0.5
    assert not response.startswith(b"HTTP/1.1 408"), response[:200]
    assert response.startswith(b"HTTP/1.1 "), response[:200]
