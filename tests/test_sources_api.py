"""The sources routes of the REST API over real HTTP (uvicorn on a free loopback port), with the API key."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from assistant.pipeline import Assistant
from assistant.serve.api import create_app
from assistant.settings import Settings
from tests.servers import free_port
from tests.site import LocalSite, Reply

KEY = "sources-key-1234"


@contextmanager
def api_for(settings: Settings) -> Iterator[httpx.Client]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(Assistant(settings)), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {KEY}"}, timeout=120
        ) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as served:
        served.routes["/feed.xml"] = Reply(served.page("feed.xml"))
        served.routes["/news/grain"] = Reply(served.page("grain.html"))
        served.routes["/news/talks?utm_source=feed"] = Reply(served.page("talks.html"))
        served.routes["/republished/exchange"] = Reply(served.page("copy.html"))
        yield served


def settings(tmp_path: Path, allow: str) -> Settings:
    corpus = tmp_path / "corpus"
    corpus.mkdir(exist_ok=True)
    (corpus / "note.md").write_text("# Note\n\nA note that was in the corpus before any source.\n")
    return Settings(
        corpus_dir=corpus, index_dir=tmp_path / "index", api_key=KEY, sources_contact="ops@example.org",
        sources_delay=0.0, sources_allow_networks=allow,
    )  # fmt: skip


def test_sources_are_added_synced_listed_and_removed_over_rest(
    site: LocalSite, tmp_path: Path, fake_embeddings: str
) -> None:
    with api_for(settings(tmp_path, "127.0.0.1/32")) as client:
        assert httpx.get(f"{client.base_url}/v1/sources").status_code == 401  # the key is required
        added = client.post("/v1/sources", json={"name": "ministry", "url": f"{site.base}/feed.xml", "voice": "UN"})
        assert added.status_code == 201, added.text
        assert added.json()["voice"] == "UN"
        second = client.post("/v1/sources", json={"name": "page", "url": f"{site.base}/news/grain", "kind": "page"})
        assert second.status_code == 201 and second.json()["kind"] == "page"

        synced = client.post("/v1/sync", json={"names": ["ministry"], "max": 5})
        assert synced.status_code == 200, synced.text
        [report] = synced.json()["sources"]
        assert len(report["added"]) == 2 and report["duplicates"] == 1
        assert synced.json()["ingest"]["documents"]["added"] == 3 and site.paths()[0] == "/robots.txt"

        listed = {item["name"]: item for item in client.get("/v1/sources").json()["sources"]}
        assert listed["ministry"]["documents"] == 2 and listed["ministry"]["last_sync"]
        assert listed["page"]["last_sync"] is None and listed["page"]["documents"] == 0

        found = client.post("/v1/retrieve", json={"query": "grain convoy Kelmar", "k": 1}).json()["results"]
        assert found[0]["doc_id"].startswith("sources/ministry/")

        removed = client.delete("/v1/sources/ministry")
        assert removed.json() == {"removed": "ministry", "documents_kept_in": "sources/ministry"}
        assert client.delete("/v1/sources/ministry").status_code == 404
        allowed = client.request("PATCH", "/v1/sources")
        assert allowed.status_code == 405 and allowed.headers["allow"] == "GET, POST"


def test_a_loopback_source_is_refused_over_rest_unless_allowed(
    site: LocalSite, tmp_path: Path, fake_embeddings: str
) -> None:
    with api_for(settings(tmp_path, "")) as client:
        refused = client.post("/v1/sources", json={"name": "local", "url": f"{site.base}/feed.xml"})
        assert refused.status_code == 400
        assert "127.0.0.1, a loopback address" in refused.json()["error"]["message"]
        bad = client.post("/v1/sync", json={"since": "yesterday"})
        assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["error"]["message"]
    assert site.seen == []
