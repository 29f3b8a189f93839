"""Servers sync sources on their schedule in the background, one process at a time: against a real HTTP
server on 127.0.0.1, with servers in threads (uvicorn) and as separate processes sharing a corpus folder."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from assistant.pipeline import Assistant
from assistant.serve.api import create_app
from assistant.settings import Settings
from assistant.sources import schedule as schedule_module
from assistant.sources.records import SourceState
from assistant.sources.registry import save_state
from assistant.sources.service import new_source, source_statuses, sync
from tests.servers import ASSISTANT, assistant_api, free_port
from tests.site import LocalSite, Reply, Seen

ALLOW = "127.0.0.1/32"
ENV = {
    "ASSISTANT_EMBEDDING_MODEL": "fake",
    "ASSISTANT_SOURCES_CONTACT": "ops@example.org",
    "ASSISTANT_SOURCES_DELAY": "0",
    "ASSISTANT_SOURCES_ALLOW_NETWORKS": ALLOW,
    "ASSISTANT_SOURCES_SCHEDULE": "1",
}


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as served:
        served.routes["/feed.xml"] = Reply(served.page("feed.xml"))
        served.routes["/news/grain"] = Reply(served.page("grain.html"))
        served.routes["/news/talks?utm_source=feed"] = Reply(served.page("talks.html"))
        served.routes["/republished/exchange"] = Reply(served.page("copy.html"))
        served.routes["/news/quiet"] = Reply(served.page("grain.html"))
        yield served


def corpus_with_note(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "note.md").write_text("# Note\n\nA note that was in the corpus before any source.\n")
    return corpus


@contextmanager
def server_in_thread(settings: Settings) -> Iterator[httpx.Client]:
    """`create_app` under uvicorn on a free port, its lifespan (and so its schedule) running."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(Assistant(settings)), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(15)


def wait_for(check: Callable[[], Any], timeout: float = 60.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:.0f} s")


def listed(client: httpx.Client) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    reply = client.get("/v1/sources").json()
    return {item["name"]: item for item in reply["sources"]}, reply["schedule"]


def synced_just_now(corpus: Path, name: str) -> None:
    save_state(corpus, name, SourceState(last_sync=dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()))


def test_a_running_server_syncs_a_due_source_unasked_and_answers_from_it(
    site: LocalSite, tmp_path: Path, fake_embeddings: str
) -> None:
    corpus = corpus_with_note(tmp_path)
    new_source(corpus, "ministry", f"{site.base}/feed.xml", every="1d")  # never synced: due now
    new_source(corpus, "quiet", f"{site.base}/news/quiet", kind="page", every="1d")
    synced_just_now(corpus, "quiet")  # not due for a day
    settings = Settings(
        corpus_dir=corpus, index_dir=tmp_path / "index", sources_contact="ops@example.org", sources_delay=0.0,
        sources_allow_networks=ALLOW, sources_schedule=True,
    )  # fmt: skip

    with server_in_thread(settings) as client:
        # Nothing is asked of the server: the site is watched until the sync has fetched the articles.
        wait_for(lambda: "/republished/exchange" in site.paths(), what="the scheduled sync")

        def hits() -> list[str]:  # none (409) until the ingest that ends the sync has built the index
            reply = client.post("/v1/retrieve", json={"query": "grain convoy Kelmar", "k": 1}).json()
            return [hit["doc_id"] for hit in reply.get("results", []) if hit["doc_id"].startswith("sources/ministry/")]

        found = wait_for(hits, what="answering from the synced documents")
        assert found  # the serving assistant answers from them without a restart
        sources, schedule = listed(client)

    assert "/news/quiet" not in site.paths()  # synced a moment ago, due in a day
    assert site.paths().count("/feed.xml") == 1
    assert schedule["on"] is True and schedule["checked"]
    ministry = sources["ministry"]
    assert ministry["documents"] == 2 and ministry["last_error"] is None and ministry["syncing"] is None
    last = dt.datetime.fromisoformat(ministry["last_sync"])
    assert dt.datetime.fromisoformat(ministry["next_sync"]) == last + dt.timedelta(days=1)
    assert sources["quiet"]["last_sync"] and sources["quiet"]["documents"] == 0


def test_a_long_sync_is_answered_from_as_it_goes(
    site: LocalSite, tmp_path: Path, fake_embeddings: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedule_module, "INGEST_EVERY_SECONDS", 0.0)  # ingest after every document
    gate = threading.Event()
    site.routes["/news/talks?utm_source=feed"] = lambda request: (gate.wait(60), Reply(site.page("talks.html")))[1]
    corpus = corpus_with_note(tmp_path)
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    settings = Settings(
        corpus_dir=corpus, index_dir=tmp_path / "index", sources_contact="ops@example.org", sources_delay=0.0,
        sources_allow_networks=ALLOW, sources_schedule=True,
    )  # fmt: skip

    def grain_found(client: httpx.Client) -> bool:
        reply = client.post("/v1/retrieve", json={"query": "grain convoy Kelmar", "k": 1}).json()
        return any(hit["doc_id"].startswith("sources/ministry/") for hit in reply.get("results", []))

    try:
        with server_in_thread(settings) as client:
            # The first article is answered from while the sync still waits for the second.
            wait_for(lambda: grain_found(client), what="answering from the first article")
            [ministry] = [item for item in client.get("/v1/sources").json()["sources"]]
            assert ministry["syncing"] is not None and ministry["documents"] == 1
            gate.set()
            wait_for(lambda: listed(client)[0]["ministry"]["documents"] == 2, what="the rest of the sync")
    finally:
        gate.set()


def test_a_failing_scheduled_sync_shows_its_error_in_the_listing(
    site: LocalSite, tmp_path: Path, fake_embeddings: str
) -> None:
    site.routes["/feed.xml"] = Reply("the feed is down", 500)
    corpus = corpus_with_note(tmp_path)
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    settings = Settings(
        corpus_dir=corpus, index_dir=tmp_path / "index", sources_contact="ops@example.org", sources_delay=0.0,
        sources_allow_networks=ALLOW, sources_schedule=True,
    )  # fmt: skip

    with server_in_thread(settings) as client:
        ministry = wait_for(lambda: listed(client)[0]["ministry"]["last_error"] and listed(client)[0]["ministry"])
        _, schedule = listed(client)

    assert "answered 500" in ministry["last_error"] and ministry["syncing"] is None
    assert ministry["next_sync"] > ministry["last_sync"]  # tried again on its schedule, not in a loop
    assert site.paths().count("/feed.xml") == 1
    assert schedule["on"] is True and schedule["note"].startswith("on: next ministry at")


def test_with_the_schedule_off_a_server_fetches_nothing(site: LocalSite, tmp_path: Path, fake_embeddings: str) -> None:
    corpus = corpus_with_note(tmp_path)
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    settings = Settings(
        corpus_dir=corpus, index_dir=tmp_path / "index", sources_contact="ops@example.org", sources_delay=0.0,
        sources_allow_networks=ALLOW, sources_schedule=False,
    )  # fmt: skip
    with server_in_thread(settings) as client:
        time.sleep(1.5)
        sources, schedule = listed(client)
    assert site.seen == []
    assert schedule == {"on": False, "note": schedule["note"], "checked": None}
    assert "ASSISTANT_SOURCES_SCHEDULE=0" in schedule["note"] and sources["ministry"]["next_sync"] is None


def test_two_servers_sharing_a_corpus_never_fetch_a_source_at_once(
    site: LocalSite, tmp_path: Path, fake_embeddings: str
) -> None:
    gate = threading.Event()  # the first page waits until both servers have looked at the source

    def held(request: Seen) -> Reply:
        gate.wait(60)
        return Reply(site.page("grain.html"))

    site.routes["/news/grain"] = held
    corpus = corpus_with_note(tmp_path)
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    servers = []
    for number in (1, 2):
        env = {**ENV, "ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(tmp_path / f"index-{number}")}
        servers.append(assistant_api(free_port(), tmp_path / f"api-{number}.log", env))
    try:
        for server in servers:
            server.start()
        clients = [httpx.Client(base_url=server.ready_url.removesuffix("/health"), timeout=30) for server in servers]
        wait_for(lambda: "/news/grain" in site.paths(), what="one server fetching the source")
        # The other server's first pass found the source due, and its sync in progress elsewhere: it ended.
        finished = wait_for(lambda: [c for c in clients if listed(c)[1]["checked"]], what="the other's pass")
        [other] = finished
        syncing = listed(other)[0]["ministry"]["syncing"]
        fetching = servers[1 - clients.index(other)]
        assert fetching.process is not None and syncing["by"].endswith(f":{fetching.process.pid}")
        gate.set()
        wait_for(lambda: all(listed(c)[1]["checked"] for c in clients), what="both passes")
        time.sleep(6)  # the other server looks again (every 5 s while a source is busy elsewhere): not due now
        states = [listed(c)[0]["ministry"] for c in clients]
    finally:
        gate.set()
        for server in servers:
            server.stop()

    assert [site.paths().count(path) for path in ("/feed.xml", "/news/grain", "/republished/exchange")] == [1, 1, 1]
    assert states[0] == states[1] and states[0]["documents"] == 2 and states[0]["syncing"] is None


def test_a_killed_sync_leaves_no_lock_behind(site: LocalSite, tmp_path: Path, fake_embeddings: str) -> None:
    hung = threading.Event()
    site.routes["/news/grain"] = lambda request: (hung.wait(60), Reply(""))[1]  # no answer until it is killed
    corpus = corpus_with_note(tmp_path)
    new_source(corpus, "ministry", f"{site.base}/feed.xml")
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("ASSISTANT_")}
    env = {**inherited, **ENV, "ASSISTANT_CORPUS_DIR": str(corpus)}
    with (tmp_path / "sync.log").open("wb") as log:
        process = subprocess.Popen([ASSISTANT, "sources", "sync"], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "/news/grain" in site.paths(), what="the command's sync")
        [status] = source_statuses(corpus)
        assert status.syncing is not None and status.syncing["by"].endswith(f":{process.pid}")
    finally:
        process.kill()
        process.wait(15)
        hung.set()

    [status] = source_statuses(corpus)
    assert status.syncing is None  # the kernel let go of the dead process's lock
    site.routes["/news/grain"] = Reply(site.page("grain.html"))
    [report] = sync(
        Settings(corpus_dir=corpus, sources_contact="ops@example.org", sources_delay=0.0, sources_allow_networks=ALLOW)
    )
    assert report.error is None and len(report.added) == 2
