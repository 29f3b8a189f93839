"""The REST API through real HTTP: `assistant api` on a free loopback port, over a copy of the bundled corpus."""

from __future__ import annotations

import itertools
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import time
import unicodedata
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.cli import cli
from assistant.pipeline import Assistant
from assistant.serve.guard import SIGN_IN_BURST
from assistant.settings import Settings

from .conftest import BUNDLED_CORPUS
from .servers import ASSISTANT, assistant_api, free_port

pytestmark = pytest.mark.server
KEY = "test-key-1234-abcdefgh"
QUESTION = "What are Russia's preconditions?"
DOC = "news/2025-07-01-un-appeal"


@dataclass
class Api:
    client: httpx.Client  # sends the API key
    url: str
    corpus: Path
    index: Path
    port: int
    pid: int


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """`assistant api` with an API key, over an ingested, writable copy of the bundled corpus."""
    root = tmp_path_factory.mktemp("api")
    corpus, index = root / "corpus", root / "index"
    shutil.copytree(BUNDLED_CORPUS, corpus)
    Assistant(Settings(corpus_dir=corpus, index_dir=index)).ingest()
    port = free_port()
    env = {"ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index), "ASSISTANT_API_KEY": KEY}
    server = assistant_api(port, root / "api.log", env).start()
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=120) as client:
        assert server.process is not None
        yield Api(client, url, corpus, index, port, server.process.pid)
    server.stop()


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] and error["message"] and "Traceback" not in response.text
    return error


def test_health_and_the_openapi_schema(api: Api) -> None:
    health = httpx.get(f"{api.url}/health").json()  # no key needed
    assert health == {"status": "ok", "collection": health["collection"], "chunks": 5, "vector_store": "embedded"}
    schema = httpx.get(f"{api.url}/openapi.json").json()
    assert {"/health", "/v1/retrieve", "/v1/ask", "/v1/documents"} <= set(schema["paths"])
    assert schema["components"]["schemas"]["AskRequest"]["properties"]["question"]["maxLength"] == 2000
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_retrieve_returns_the_records_of_retrieve_json(api: Api) -> None:
    response = api.client.post("/v1/retrieve", json={"query": QUESTION, "k": 3})
    assert response.status_code == 200, response.text
    local = Assistant(Settings(corpus_dir=api.corpus, index_dir=api.index)).retrieve(QUESTION, k=3)
    assert response.json() == {"query": QUESTION, "results": [chunk.to_json() for chunk in local]}


@pytest.mark.parametrize(
    ("filters", "hits"),
    [
        ({"doc_ids": [DOC]}, 2),
        ({"doc_ids": ["news/other"]}, 0),
        ({"date_from": "2025-07-01", "date_to": "2025-07-31"}, 2),
        ({"date_to": "2025-06-30"}, 0),
        ({"tags": ["politics"]}, 2),
        ({"tags": ["sports"]}, 0),
    ],
)
def test_retrieve_filters_by_document_date_and_tag(api: Api, filters: dict[str, Any], hits: int) -> None:
    response = api.client.post("/v1/retrieve", json={"query": QUESTION, "k": 2, **filters})
    assert len(response.json()["results"]) == hits


def test_ask_matches_ask_json(api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    response = api.client.post("/v1/ask", json={"question": QUESTION})
    assert response.status_code == 200, response.text
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(api.index))
    assert cli(["ask", "--corpus", str(api.corpus), "--json", QUESTION]) == 0
    printed = json.loads(capsys.readouterr().out)
    answer = response.json()
    assert answer["abstained"] is False and answer["citations"][0]["doc_id"] == DOC
    assert {**answer, "timings_ms": None} == {**printed, "timings_ms": None}
    assert set(answer["timings_ms"]) == {"retrieve", "answer"}


def _events(response: httpx.Response) -> list[tuple[str, Any]]:
    assert response.headers["content-type"].startswith("text/event-stream")
    events = []
    for block in response.text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


@pytest.mark.parametrize("how", ["body", "accept"])
def test_ask_streams_server_sent_events(api: Api, how: str) -> None:
    body: dict[str, Any] = {"question": QUESTION, "k": 3}
    headers = {"Accept": "text/event-stream"} if how == "accept" else {}
    if how == "body":
        body["stream"] = True
    events = _events(api.client.post("/v1/ask", json=body, headers=headers))
    *deltas, (last, answer) = events
    assert len(deltas) > 1 and {name for name, _ in deltas} == {"delta"}
    assert last == "answer" and "".join(data["text"] for _, data in deltas) == answer["answer"]
    plain = api.client.post("/v1/ask", json={"question": QUESTION, "k": 3}).json()
    assert {**answer, "timings_ms": None} == {**plain, "timings_ms": None}


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        ("/v1/ask", {}, "question: Field required"),
        ("/v1/retrieve", {"k": 3}, "query: Field required"),
        ("/v1/ask", {"question": QUESTION, "k": 0}, "k: Input should be greater than or equal to 1"),
        ("/v1/retrieve", {"query": QUESTION, "k": 51}, "k: Input should be less than or equal to 50"),
        ("/v1/ask", {"question": "x" * 2001}, "question: String should have at most 2000 characters"),
        ("/v1/ask", {"question": "   "}, "question: String should have at least 1 character"),
        ("/v1/ask", {"question": QUESTION, "date_from": "July"}, "'July' is not a date; write it as YYYY-MM-DD"),
        ("/v1/ask", {"question": QUESTION, "date_from": "2025-W27-1"}, "'2025-W27-1' is not a date"),
        ("/v1/retrieve", {"query": QUESTION, "date_to": "20250601"}, "'20250601' is not a date"),
        ("/v1/ask", {"question": QUESTION, "date_to": "2025-02-30"}, "not a day of the calendar"),
        ("/v1/ask", {"question": QUESTION, "stream": 0}, "stream: Input should be a valid boolean"),
        ("/v1/retrieve", {"query": QUESTION, "k": "3"}, "k: Input should be a valid integer"),
        ("/v1/ask", {"question": QUESTION, "date_from": "2025-08-01", "date_to": "2025-07-01"}, "after the end date"),
        ("/v1/ask", {"question": QUESTION, "topk": 3}, "topk: Extra inputs are not permitted"),
        ("/v1/ask", {"question": QUESTION, "as_of": ""}, "as_of is blank: give a date (YYYY-MM-DD), or leave it out"),
        ("/v1/retrieve", {"query": QUESTION, "as_of": "  "}, "as_of is blank"),
    ],
)
def test_bad_requests_are_422_with_the_field_and_the_problem(api: Api, path: str, body: Any, fragment: str) -> None:
    error = _error(api.client.post(path, json=body), 422)
    assert error["type"] == "ValidationError" and fragment in error["message"]


def test_a_body_that_is_not_json_is_422(api: Api) -> None:
    response = api.client.post("/v1/ask", content=b"question=hi", headers={"Content-Type": "application/json"})
    assert "JSON decode error" in _error(response, 422)["message"]


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({}, "requires an API key"),
        ({"Authorization": "Bearer wrong"}, "key is wrong"),
        ({"Authorization": KEY}, "requires"),
    ],
)
def test_v1_needs_the_api_key(api: Api, headers: dict[str, str], fragment: str) -> None:
    response = httpx.post(f"{api.url}/v1/retrieve", json={"query": QUESTION}, headers=headers)
    error = _error(response, 401)
    assert error["type"] == "AuthenticationError" and fragment in error["message"]
    assert response.headers["www-authenticate"] == "Bearer"


def test_adding_a_document_by_upload_and_by_json(api: Api) -> None:
    text = b"Drone strike on Kharkiv\n\nA drone strike hit a power station in Kharkiv on Tuesday, officials said."
    response = api.client.post("/v1/documents", files={"file": ("kharkiv strike.txt", text, "text/plain")})
    assert response.status_code == 201, response.text
    added = response.json()
    assert added["doc_ids"] == ["uploads/kharkiv-strike"] and added["chunks_added"] == 1
    assert added["ingest"]["documents"]["added"] == 1
    assert (api.corpus / "uploads" / "kharkiv-strike.txt").read_bytes() == text
    found = api.client.post(
        "/v1/retrieve", json={"query": "Kharkiv power station", "doc_ids": ["uploads/kharkiv-strike"]}
    )
    assert found.json()["results"][0]["title"] == "Drone strike on Kharkiv"

    note = {
        "filename": "odesa.md",
        "content": "---\ntitle: Odesa port\ndate: 2025-07-02\n---\nThe port of Odesa reopened.",
    }
    response = api.client.post("/v1/documents", json=note)
    assert response.status_code == 201, response.text
    assert response.json()["doc_ids"] == ["uploads/odesa"]
    found = api.client.post("/v1/retrieve", json={"query": "Odesa port", "date_from": "2025-07-02"}).json()["results"]
    assert [r["doc_id"] for r in found] == ["uploads/odesa"]


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        ({"files": {"file": ("tool.exe", b"MZ", "application/octet-stream")}}, 400, "not a supported type"),
        ({"files": {"other": ("a.txt", b"text", "text/plain")}}, 400, "field named 'file'"),
        ({"json": {"filename": "a.txt"}}, 422, "content: Field required"),
        ({"json": {"filename": "a.pdf", "content": "%%%", "encoding": "base64"}}, 400, "not valid base64"),
        ({"content": b"plain", "headers": {"Content-Type": "text/plain"}}, 400, "multipart/form-data"),
    ],
)
def test_bad_uploads_are_refused_and_write_nothing(
    api: Api, kwargs: dict[str, Any], status: int, fragment: str
) -> None:
    before = sorted(api.corpus.rglob("*"))
    assert fragment in _error(api.client.post("/v1/documents", **kwargs), status)["message"]
    assert sorted(api.corpus.rglob("*")) == before


def test_without_an_index_ask_is_409_and_says_to_ingest(tmp_path: Path) -> None:
    port = free_port()
    env = {"ASSISTANT_CORPUS_DIR": str(tmp_path / "corpus"), "ASSISTANT_INDEX_DIR": str(tmp_path / "index")}
    server = assistant_api(port, tmp_path / "api.log", env).start()
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["chunks"] is None
        response = httpx.post(f"http://127.0.0.1:{port}/v1/ask", json={"question": QUESTION})  # no key set: none needed
        error = _error(response, 409)
        assert (error["type"], error["message"]) == (
            "IndexMissingError",
            "No index for this corpus yet; run `assistant ingest` first.",
        )
    finally:
        server.stop()


def test_listening_beyond_loopback_without_a_key_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [ASSISTANT, "api", "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=60,
        env={name: value for name, value in os.environ.items() if not name.startswith("ASSISTANT_")},  # no key
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: Refusing to listen on 0.0.0.0 without an API key")
    assert "ASSISTANT_API_KEY" in result.stderr and result.stderr.count("\n") == 1


def test_dates_are_declared_as_dates_in_the_schema(api: Api) -> None:
    schema = httpx.get(f"{api.url}/openapi.json").json()["components"]["schemas"]
    for model in ("AskRequest", "RetrieveRequest"):
        date_from = schema[model]["properties"]["date_from"]
        assert {"type": "string", "format": "date"} in date_from["anyOf"]
    assert schema["AskRequest"]["properties"]["stream"]["type"] == "boolean"


@pytest.mark.parametrize("endpoint", ["/v1/ask", "/v1/retrieve"])
def test_a_bad_date_leaves_the_connection_usable(api: Api, endpoint: str) -> None:
    field = "question" if endpoint == "/v1/ask" else "query"
    bad = api.client.post(endpoint, json={field: QUESTION, "date_from": "2025-W27-1"})
    assert bad.status_code == 422
    assert api.client.post(endpoint, json={field: QUESTION, "k": 1}).status_code == 200


def _upload(api: Api, name: str, text: str, replace: bool | None = None) -> dict[str, Any]:
    data = {"replace": str(replace).lower()} if replace is not None else None
    response = api.client.post("/v1/documents", files={"file": (name, text.encode(), "text/plain")}, data=data)
    assert response.status_code == 201, response.text
    reply: dict[str, Any] = response.json()
    return reply


def test_unicode_names_are_kept_and_no_upload_is_overwritten_silently(api: Api) -> None:
    uploads = api.corpus / "uploads"
    report = _upload(api, "звіт-1.txt", "Звіт\n\nУ Харкові відновили електропостачання.\n")
    speech = _upload(api, "доповідь-1.txt", "Доповідь\n\nУ Києві відкрили новий міст.\n")
    assert (report["doc_ids"], speech["doc_ids"]) == (["uploads/звіт-1"], ["uploads/доповідь-1"])
    assert report["stored_as"] == "uploads/звіт-1.txt" and not report["renamed"]
    assert {"звіт-1.txt", "доповідь-1.txt"} <= {path.name for path in uploads.iterdir()}

    spaced = _upload(api, "Київ звіт.txt", "Київ\n\nУ Києві пройшов дощ.\n")
    assert spaced["stored_as"] == "uploads/Київ-звіт.txt" and spaced["renamed"] and not spaced["name_taken"]

    again = _upload(api, "звіт-1.txt", "Звіт\n\nУ Харкові знову працює метро.\n")
    assert (
        again["stored_as"] == "uploads/звіт-1-2.txt"
        and again["name_taken"]
        and again["doc_ids"] == ["uploads/звіт-1-2"]
    )
    assert "електропостачання" in (uploads / "звіт-1.txt").read_text(encoding="utf-8"), "the first is kept"
    found = api.client.post("/v1/retrieve", json={"query": "Харкові", "k": 5}).json()["results"]
    assert {"uploads/звіт-1", "uploads/звіт-1-2"} <= {r["doc_id"] for r in found}

    replaced = _upload(api, "звіт-1.txt", "Звіт\n\nУ Харкові відкрили школу.\n", replace=True)
    assert replaced["stored_as"] == "uploads/звіт-1.txt" and replaced["replaced"] == ["uploads/звіт-1.txt"]
    assert replaced["ingest"]["documents"]["updated"] == 1
    assert "школу" in (uploads / "звіт-1.txt").read_text(encoding="utf-8")

    as_json = api.client.post("/v1/documents", json={"filename": "звіт-1.txt", "content": "Звіт\n\nЩе один звіт.\n"})
    assert as_json.status_code == 201 and as_json.json()["stored_as"] == "uploads/звіт-1-3.txt"


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("../../etc/passwd.txt", "uploads/passwd.txt"),
        ("..\\..\\boot.ini.txt", "uploads/boot.ini.txt"),
        (".hidden.md", "uploads/hidden.md"),
        ("evil\u202etxt.md", "uploads/evil-txt.md"),
        ("tab\there.md", "uploads/tab-here.md"),
        ("ка\u0301ва.md", "uploads/ка\u0301ва.md"),  # a combining accent is a letter's part, kept (NFC)
        ("я" * 150 + ".txt", "uploads/" + "я" * 98 + ".txt"),  # capped at 200 bytes, the type kept
    ],
)
def test_upload_names_are_made_safe(api: Api, name: str, stored: str) -> None:
    # JSON carries the name exactly as given (a multipart form would let the client escape some characters)
    response = api.client.post(
        "/v1/documents", json={"filename": name, "content": "Title\n\nA sentence about Kharkiv."}
    )
    assert response.status_code == 201, response.text
    reply = response.json()
    assert reply["stored_as"] == unicodedata.normalize("NFC", stored)
    assert (api.corpus / reply["stored_as"]).is_file()


def test_a_bad_replace_flag_is_refused(api: Api) -> None:
    response = api.client.post(
        "/v1/documents", files={"file": ("a.txt", b"A\n\nText.", "text/plain")}, data={"replace": "maybe"}
    )
    assert "send true or false" in _error(response, 400)["message"]


MB = 1024 * 1024


def _rss_mb(pid: int) -> float:
    """The resident memory of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))) / 1024


def _send_until_answered(port: int, head: bytes, chunks: Iterator[bytes]) -> tuple[int, dict[str, Any], int]:
    """Send a request's head, then its body chunk by chunk until the server answers or stops reading.

    Returns the status, the JSON body of the answer and how many body bytes were sent before it came.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(head)
        sent = 0
        answered = False
        for chunk in chunks:
            pending = memoryview(chunk)
            while pending and not answered:
                readable, writable, _ = select.select([sock], [sock], [], 120)
                answered = bool(readable)
                if writable and not answered:
                    try:
                        count = sock.send(pending)
                    except (BrokenPipeError, ConnectionResetError):
                        answered = True
                        break
                    pending, sent = pending[count:], sent + count
            if answered:
                break
        data = b""
        while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < _length(data):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head_part, _, body = data.partition(b"\r\n\r\n")
    return int(head_part.split(b" ")[1]), json.loads(body), sent


def _length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 40


def _request(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _megabytes(total: int, chunked: bool = False) -> Iterator[bytes]:
    piece = b"x" * MB
    for _ in range(total):
        yield b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
    if chunked:
        yield b"0\r\n\r\n"


def test_a_large_body_without_the_key_is_refused_before_it_is_read(api: Api) -> None:
    before = _rss_mb(api.pid)
    head = _request("/v1/ask", {"Content-Type": "application/json", "Content-Length": str(200 * MB)})
    status, body, sent = _send_until_answered(api.port, head, _megabytes(200))
    assert status == 401 and body["error"]["type"] == "AuthenticationError"
    assert sent < 20 * MB, f"the client sent {sent / MB:.0f} MB before the answer"
    assert _rss_mb(api.pid) - before < 50, "the server did not read the body"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_refused_while_it_streams(api: Api, chunked: bool) -> None:
    before = _rss_mb(api.pid)
    framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(200 * MB)}
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json", **framing}
    status, body, sent = _send_until_answered(api.port, _request("/v1/ask", headers), _megabytes(200, chunked))
    assert status == 413 and body["error"] == {
        "type": "RequestTooLarge",
        "message": "The request body is larger than the limit of 4 MB; send less.",
    }
    assert sent < 24 * MB and _rss_mb(api.pid) - before < 100


def test_a_chunked_upload_over_the_limit_is_refused_early_and_writes_nothing(api: Api) -> None:
    before_files = sorted(api.corpus.rglob("*"))
    before = _rss_mb(api.pid)
    boundary = "harden-boundary"
    opening = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    headers = {
        "Authorization": f"Bearer {KEY}",
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Transfer-Encoding": "chunked",
    }
    chunks = itertools.chain([b"%x\r\n%s\r\n" % (len(opening), opening)], _megabytes(200, chunked=True))
    status, body, sent = _send_until_answered(api.port, _request("/v1/documents", headers), chunks)
    assert status == 413 and body["error"]["message"] == (
        "The upload is larger than the limit of 10 MB; send a smaller file."
    )
    assert sent < 40 * MB and _rss_mb(api.pid) - before < 100
    assert sorted(api.corpus.rglob("*")) == before_files


SCHEMATHESIS = Path(__file__).resolve().parent / "schemathesis"


def test_the_server_keeps_to_its_openapi_schema(api: Api, tmp_path: Path) -> None:
    """Schemathesis, every check, a fixed seed: no server error, nothing the schema allows is refused (but a
    document the schema cannot judge, see schemathesis.toml), nothing it forbids is accepted. Runs last: it
    uploads documents into this module's corpus."""
    command = [
        str(Path(ASSISTANT).with_name("schemathesis")),
        "--config-file",
        str(SCHEMATHESIS / "schemathesis.toml"),
        "run",
        f"{api.url}/openapi.json",
        "--header",
        f"Authorization: Bearer {KEY}",
        "--max-examples",
        "40",
        "--seed",
        "20251",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "hooks", "PYTHONPATH": str(SCHEMATHESIS)}
    # In a folder of its own: schemathesis keeps a cache of what it found where it runs.
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert "8/8" in result.stdout and "passed" in result.stdout  # 4 of questions and documents, 4 of sources


def test_the_server_stops_on_sigterm_while_a_request_is_in_progress(tmp_path: Path) -> None:
    """A client that never finishes its upload no longer keeps a stopping server running until killed."""
    port = free_port()
    env = {"ASSISTANT_CORPUS_DIR": str(tmp_path / "corpus"), "ASSISTANT_INDEX_DIR": str(tmp_path / "index")}
    server = assistant_api(port, tmp_path / "api.log", env).start()
    assert server.process is not None
    try:
        with socket.create_connection(("127.0.0.1", port)) as stalled:
            stalled.sendall(
                b"POST /v1/documents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100000\r\n\r\n{"filename": "a.txt", "content": "'
            )
            time.sleep(0.5)
            os.kill(server.process.pid, signal.SIGTERM)
            started = time.monotonic()
            server.process.wait(30)
        assert time.monotonic() - started < 15
    finally:
        server.stop()


def test_a_client_rotating_x_forwarded_for_is_still_limited_as_one_address(tmp_path: Path) -> None:
    """X-Forwarded-For names the client only when it comes from a configured proxy (none by default)."""
    env = {"ASSISTANT_CORPUS_DIR": str(tmp_path), "ASSISTANT_INDEX_DIR": str(tmp_path / "ix"), "ASSISTANT_API_KEY": KEY}
    port = free_port()
    server = assistant_api(port, tmp_path / "api.log", env).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            statuses = [
                client.post(
                    "/v1/retrieve",
                    json={"query": "anything"},
                    headers={"Authorization": f"Bearer guess{n}", "X-Forwarded-For": f"198.51.100.{n}"},
                ).status_code
                for n in range(SIGN_IN_BURST)
            ]
        then = _two_at_once(
            port, [{"Authorization": f"Bearer more{n}", "X-Forwarded-For": f"192.0.2.{n}"} for n in (1, 2)]
        )
    finally:
        server.stop()
    # one address: out of tries, one request waits its turn and is checked, the other is refused at once
    assert statuses == [401] * SIGN_IN_BURST and then == [401, 429]


def _two_at_once(port: int, headers: list[dict[str, str]]) -> list[int]:
    """The statuses of two requests sent together (sorted), one with each set of headers."""

    def send(one: dict[str, str]) -> int:
        url = f"http://127.0.0.1:{port}/v1/retrieve"
        return httpx.post(url, json={"query": "anything"}, headers=one, timeout=60).status_code

    with ThreadPoolExecutor(2) as pool:
        return sorted(pool.map(send, headers))


def test_behind_a_trusted_proxy_each_client_has_its_own_limit_and_cannot_pick_it(tmp_path: Path) -> None:
    """With ASSISTANT_TRUSTED_PROXIES, X-Forwarded-For names the client: the address the proxy appended (its last
    untrusted one), never one the client wrote in front of it."""
    env = {
        "ASSISTANT_CORPUS_DIR": str(tmp_path),
        "ASSISTANT_INDEX_DIR": str(tmp_path / "ix"),
        "ASSISTANT_API_KEY": KEY,
        "ASSISTANT_TRUSTED_PROXIES": "127.0.0.1",
    }
    port = free_port()
    server = assistant_api(port, tmp_path / "api.log", env).start()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

            def guess(n: int, forwarded: str) -> int:
                headers = {"Authorization": f"Bearer guess{n}", "X-Forwarded-For": forwarded}
                return client.post("/v1/retrieve", json={"query": "anything"}, headers=headers).status_code

            clients = [guess(n, f"198.51.100.{n}") for n in range(SIGN_IN_BURST + 2)]  # a client each
            one = [guess(n, f"192.0.2.{n}, 203.0.113.5") for n in range(SIGN_IN_BURST)]  # one, posing
        posing = [{"Authorization": f"Bearer more{n}", "X-Forwarded-For": f"192.0.2.9{n}, 203.0.113.5"} for n in (1, 2)]
        then = _two_at_once(port, posing)
    finally:
        server.stop()
    assert clients == [401] * (SIGN_IN_BURST + 2)
    assert one == [401] * SIGN_IN_BURST and then == [401, 429]
