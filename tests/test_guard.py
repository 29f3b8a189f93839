"""The gate in front of the API and the web chat, in process: sign-in limits and a 500 that keeps the connection.

The size limits and the key-before-body check are tested against a real `assistant api` process in test_api.py.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import httpx
import pytest
import uvicorn

from assistant.errors import UsageError
from assistant.limits import MIN_API_KEY_CHARS
from assistant.pipeline import Assistant
from assistant.serve import guard
from assistant.serve.api import create_app
from assistant.serve.page import page_options
from assistant.serve.ui import build_ui
from assistant.settings import Settings, load_settings

from .servers import free_port

KEY = "guard-key-5678-abcdefgh"


@pytest.fixture
def keyed(tmp_path: Path) -> Assistant:
    """An assistant with an API key and no index (every answer would be a 409: enough to tell 401 and 429 apart)."""
    return Assistant(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index", api_key=KEY))


def _client(app: object, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


class _Clock:
    """Stands in for time.monotonic in the guard module, so a test can let time pass."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(guard.time, "monotonic", fake)

    async def wait(seconds: float) -> None:  # a held request (asyncio's clock is this one too: no real sleep)
        await asyncio.sleep(0)
        fake.now += seconds

    monkeypatch.setattr(guard, "_sleep", wait)
    return fake


@pytest.mark.asyncio
async def test_wrong_api_keys_are_limited_per_client_address(keyed: Assistant, clock: _Clock) -> None:
    app = create_app(keyed)
    body = {"query": "anything"}
    async with _client(app, "203.0.113.7") as attacker, _client(app, "203.0.113.8") as other:
        statuses = [
            (await attacker.post("/v1/retrieve", json=body, headers={"Authorization": f"Bearer guess{n}"})).status_code
            for n in range(guard.SIGN_IN_BURST)
        ]
        assert statuses == [401] * guard.SIGN_IN_BURST
        # the next request is held until the address may try again, then its key is checked: the right one gets in
        started = clock.now
        late = await attacker.post("/v1/retrieve", json=body, headers={"Authorization": f"Bearer {KEY}"})
        assert late.status_code == 409 and 0 < clock.now - started <= guard.SIGN_IN_REFILL_SECONDS
        # another address is not held up
        started = clock.now
        allowed = await other.post("/v1/retrieve", json=body, headers={"Authorization": f"Bearer {KEY}"})
        assert allowed.status_code == 409 and clock.now == started
        # guessing goes on at one key a refill period: the try earned during that wait, then each wrong key
        # waits its turn before its 401
        guess = {"Authorization": "Bearer no"}
        assert (await attacker.post("/v1/retrieve", json=body, headers=guess)).status_code == 401
        for _ in range(3):
            started = clock.now
            wrong = await attacker.post("/v1/retrieve", json=body, headers=guess)
            assert wrong.status_code == 401 and clock.now - started == pytest.approx(guard.SIGN_IN_REFILL_SECONDS)


@pytest.mark.asyncio
async def test_while_a_locked_out_address_has_a_request_held_its_others_get_one_refusal_whatever_their_key(
    keyed: Assistant, clock: _Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The decision (README, Auth): one request at a time waits out the lockout; a key sent beside it is not
    compared, so guesses sent in parallel get no answer, and the right key among them is refused alike."""
    app = create_app(keyed)
    body = {"query": "anything"}
    async with _client(app, "203.0.113.9") as client:
        for n in range(guard.SIGN_IN_BURST):
            await client.post("/v1/retrieve", json=body, headers={"Authorization": f"Bearer guess{n}"})

        holding, release = asyncio.Event(), asyncio.Event()

        async def wait(seconds: float) -> None:  # the held request waits until the test lets time pass
            holding.set()
            await release.wait()
            clock.now += seconds

        monkeypatch.setattr(guard, "_sleep", wait)

        async def send(key: str) -> httpx.Response:
            return await client.post("/v1/retrieve", json=body, headers={"Authorization": f"Bearer {key}"})

        first = asyncio.create_task(send("guess-held"))
        await holding.wait()
        right, wrong = await send(KEY), await send("guess-again")
        release.set()
        held = await first
        assert held.status_code == 401  # checked once its wait was over
        assert (right.status_code, right.headers["retry-after"], right.json()) == (
            wrong.status_code,
            wrong.headers["retry-after"],
            wrong.json(),
        )
        assert right.status_code == 429 and int(right.headers["retry-after"]) <= guard.SIGN_IN_REFILL_SECONDS
        assert right.json()["error"]["message"].startswith("Too many failed sign-ins from this address")
        holding.clear()
        assert (await send(KEY)).status_code == 409  # alone, the right key gets in after its wait
        assert holding.is_set()


@pytest.mark.asyncio
async def test_wrong_passwords_at_the_web_chat_sign_in_are_limited(keyed: Assistant, clock: _Clock) -> None:
    app = gr.mount_gradio_app(create_app(keyed), build_ui(keyed), path="/", **page_options(keyed.settings))
    async with _client(app, "198.51.100.4") as attacker:
        for n in range(guard.SIGN_IN_BURST):
            wrong = await attacker.post("/login", data={"username": "me", "password": f"guess{n}"})
            assert wrong.status_code == 400, wrong.text  # Gradio's "Incorrect credentials."
        started = clock.now
        wrong = await attacker.post("/login", data={"username": "me", "password": "guess-again"})
        assert wrong.status_code == 400 and clock.now - started == pytest.approx(guard.SIGN_IN_REFILL_SECONDS)
        started = clock.now
        signed_in = await attacker.post("/login", data={"username": "me", "password": KEY})
        assert signed_in.status_code in (200, 302, 307), signed_in.text
        assert 0 < clock.now - started <= guard.SIGN_IN_REFILL_SECONDS  # held until its turn, then let in


def test_the_limiter_remembers_a_bounded_number_of_addresses(clock: _Clock) -> None:
    """Guessing from ever new addresses cannot grow the server's memory without end."""
    limiter = guard.SignInLimiter(burst=2, refill_seconds=1.0)
    for n in range(3 * guard._MAX_CLIENTS):
        limiter.failed(f"2001:db8::{n:x}")
    assert len(limiter._buckets) <= guard._MAX_CLIENTS
    limiter.failed("192.0.2.1")
    limiter.failed("192.0.2.1")
    assert limiter.wait("192.0.2.1") == 1.0, "the latest address is still held back"
    clock.now += 1.0
    assert limiter.wait("192.0.2.1") == 0.0


class _Server:
    """uvicorn serving an app on a free loopback port in a thread of this process."""

    def __init__(self, app: object) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="critical"))  # type: ignore[arg-type]
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, bytes]:
    """Send one HTTP/1.1 request on an open connection and read its response (status, body)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(
        next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        body += chunk
    return int(head.split(b" ")[1]), body


@pytest.fixture
def failing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    """A served API whose retrieval fails with an error nobody planned for."""
    assistant = Assistant(Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "index"))

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(assistant, "retrieve", broken)
    with _Server(create_app(assistant)) as server:
        yield server


def test_an_unexpected_failure_is_a_json_500_and_the_connection_stays_usable(failing: _Server) -> None:
    body = b'{"query": "anything"}'
    retrieve = (
        b"POST /v1/retrieve HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection(("127.0.0.1", failing.port), timeout=30) as sock:
        status, reply = _exchange(sock, retrieve)
        assert status == 500 and b"Unexpected failure (" in reply and b"see the server log" in reply
        assert b"Traceback" not in reply
        status, reply = _exchange(sock, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # the same connection
        assert status == 200 and b'"status":"ok"' in reply


@pytest.mark.parametrize("key", [" ", "a", "short-key-123"])
def test_an_api_key_shorter_than_the_minimum_is_refused_with_what_to_do(key: str) -> None:
    with pytest.raises(UsageError, match=rf"ASSISTANT_API_KEY is too short.*at least {MIN_API_KEY_CHARS} characters"):
        load_settings(api_key=key)
    assert load_settings(api_key="x" * MIN_API_KEY_CHARS).api_key == "x" * MIN_API_KEY_CHARS
