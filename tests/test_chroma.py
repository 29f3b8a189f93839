"""The embedded Chroma store in a real `assistant api` process: many first questions at once, and an ingest
run by another process while the server is up."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from assistant.errors import BackendError
from assistant.pipeline import Assistant
from assistant.settings import Settings

from .conftest import DATA
from .servers import ASSISTANT, ServerProcess, assistant_api, free_port

pytestmark = pytest.mark.server
CLIENTS, ASKS = 16, 25
QUESTIONS = ["Who attacked the port?", "What did the grain deal allow?", "When was the drone attack?"]


def _server(corpus: Path, index: Path, log: Path) -> ServerProcess:
    env = {"ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(index)}
    return assistant_api(free_port(), log, env)


def test_a_freshly_started_server_answers_many_concurrent_first_questions_without_errors(tmp_path: Path) -> None:
    Assistant(Settings(corpus_dir=DATA / "dated", index_dir=tmp_path / "index")).ingest()
    server = _server(DATA / "dated", tmp_path / "index", tmp_path / "api.log").start()
    url = server.ready_url.replace("/health", "/v1/ask")

    def client(number: int) -> list[int]:
        with httpx.Client(timeout=300) as http:
            return [
                http.post(url, json={"question": QUESTIONS[(number + i) % len(QUESTIONS)]}).status_code
                for i in range(ASKS)
            ]

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:  # all at once, before anything opened the store
            statuses = Counter(status for statuses in pool.map(client, range(CLIENTS)) for status in statuses)
    finally:
        server.stop()
    assert statuses == {200: CLIENTS * ASKS}, f"{statuses}\n{server.output()}"


def test_a_running_server_finds_by_vector_what_an_ingest_in_another_process_added(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "dated", corpus)
    Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "index")).ingest()
    server = _server(corpus, tmp_path / "index", tmp_path / "api.log").start()
    url = server.ready_url.replace("/health", "/v1/retrieve")
    query = {"query": "tram depot glide bomb Kharkiv", "k": 1}
    try:
        assert httpx.post(url, json=query, timeout=300).status_code == 200  # the server has its store open
        (corpus / "2025-07-10-kharkiv.md").write_text(
            "---\ntitle: Strike on Kharkiv\ndate: 2025-07-10\n---\n"
            "A glide bomb hit a tram depot in Kharkiv on Thursday and wounded eleven people.\n",
            encoding="utf-8",
        )
        env = {**server.env, "ASSISTANT_CORPUS_DIR": str(corpus), "ASSISTANT_INDEX_DIR": str(tmp_path / "index")}
        subprocess.run([ASSISTANT, "ingest"], env=env, check=True, capture_output=True, timeout=600)
        top = httpx.post(url, json=query, timeout=300).json()["results"][0]
    finally:
        server.stop()
    assert top["doc_id"] == "2025-07-10-kharkiv"
    assert top["dense_rank"] == 1, "the vector search missed the new chunk"


def test_a_store_that_cannot_open_names_the_cause(tmp_path: Path) -> None:
    Assistant(Settings(corpus_dir=DATA / "dated", index_dir=tmp_path / "index")).ingest()
    shutil.rmtree(tmp_path / "index" / "chroma")
    (tmp_path / "index" / "chroma").write_text("not a folder")
    env = _server(DATA / "dated", tmp_path / "index", tmp_path / "log").env  # this environment, these settings
    done = subprocess.run([ASSISTANT, "retrieve", "port"], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "chroma is a file where the store's folder should be: move it away" in done.stderr


def test_the_hint_for_a_server_that_is_down_names_the_configured_host_and_port(
    tmp_path: Path, fake_embeddings: str
) -> None:
    port = free_port()
    settings = Settings(corpus_dir=DATA / "dated", index_dir=tmp_path / "ix", chroma_url=f"http://127.0.0.1:{port}")
    with pytest.raises(BackendError) as failed:
        Assistant(settings).ingest()
    assert f"chroma run --host 127.0.0.1 --port {port}" in str(failed.value)
    assert "--port 8000" not in str(failed.value)
