"""Chroma server mode against a real `chroma run` on loopback: the same results as the embedded store, and
stateless app servers that answer from what the server holds."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import chromadb
import httpx
import numpy as np
import pytest

from assistant.cli import cli
from assistant.errors import BackendError, IndexMissingError, UsageError
from assistant.index.chroma import VectorStore
from assistant.index.chroma_connection import CHUNK_SEARCH
from assistant.index.snapshot import open_snapshot
from assistant.pipeline import Assistant
from assistant.settings import Settings
from assistant.testing import FAKE_MODEL, FakeEmbeddings
from assistant.types import ChunkInfo, Filters, make_filters

from .conftest import BUNDLED_CORPUS, DATA, change_dated_corpus
from .servers import ServerProcess, assistant_api, chroma_server, free_port

# The server must give what the embedded store gives, whatever the model: these tests embed with the fake.
pytestmark = [pytest.mark.server, pytest.mark.usefixtures("fake_embeddings")]
QUESTION = "What are Russia's preconditions?"
QUERIES: list[tuple[str, Filters | None]] = [
    (QUESTION, None),
    ("drone attack on the port", None),
    ("grain talks Istanbul", make_filters(tags=["diplomacy"])),
    ("attack", make_filters(date_from="2025-06-01", date_to="2025-07-31")),
    ("ceasefire", make_filters(doc_ids=["news/2025-07-01-un-appeal", "undated-profile"])),
]


@pytest.fixture(scope="module")
def chroma(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a `chroma run` server shared by this module's tests; each test has its own collection."""
    root = tmp_path_factory.mktemp("chroma")
    port = free_port()
    server = chroma_server(root / "data", port, root / "chroma.log").start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A writable corpus: tests/data/dated (dates, tags, one undated) plus the bundled news document."""
    target = tmp_path / "corpus"
    shutil.copytree(DATA / "dated", target)
    shutil.copytree(BUNDLED_CORPUS / "news", target / "news")
    return target


def _pair(corpus: Path, root: Path, url: str) -> tuple[Assistant, Assistant]:
    """An assistant on the embedded store and one on the Chroma server, over the same corpus."""
    embedded = Assistant(Settings(corpus_dir=corpus, index_dir=root / "embedded"))
    server = Assistant(Settings(corpus_dir=corpus, index_dir=root / "server", chroma_url=url))
    return embedded, server


def _ranked(assistant: Assistant, query: str, filters: Filters | None = None) -> list[tuple[str, float, int | None]]:
    return [(r.chunk.chunk_id, r.score, r.dense_rank) for r in assistant.retrieve(query, k=5, filters=filters)]


def _same_ranking(got: list[tuple[str, float, int | None]], expected: list[tuple[str, float, int | None]]) -> bool:
    """Same chunks in the same order from the same dense ranks; scores equal up to float noise (the server and
    the embedded store compute cosine distances in different float code)."""
    return [(c, d) for c, _, d in got] == [(c, d) for c, _, d in expected] and [s for _, s, _ in got] == pytest.approx(
        [s for _, s, _ in expected], abs=1e-5
    )


def _same_everywhere(embedded: Assistant, server: Assistant) -> None:
    for query, filters in QUERIES:
        expected = _ranked(embedded, query, filters)
        assert expected and _same_ranking(_ranked(server, query, filters), expected), query
        assert any(dense is not None for _, _, dense in expected), "the dense ranking took part"
    local, remote = (assistant.ask(QUESTION).to_json() for assistant in (embedded, server))
    assert _quotes(remote) and {**remote, "timings_ms": None} == {**local, "timings_ms": None}


def _quotes(answer: dict[str, Any]) -> bool:
    """Whether an answer shows sentences of the corpus: its citations, or the nearest ones when it abstains (with
    the fake embeddings the answerer may well abstain; what matters here is that both stores give the same)."""
    return bool(answer["citations"] or answer["nearest"])


def _ids_on_server(assistant: Assistant) -> list[str]:
    in_chroma = sorted(assistant.store.doc_hashes())
    assert in_chroma == sorted(c.chunk_id for c in open_snapshot(assistant.settings.index_path()).chunks)
    return in_chroma


def test_the_server_gives_the_same_ranked_chunks_and_answers(chroma: str, corpus: Path, tmp_path: Path) -> None:
    embedded, server = _pair(corpus, tmp_path, chroma)
    local, remote = embedded.ingest(), server.ingest()
    assert remote.to_json()["documents"] == local.to_json()["documents"] and remote.chunks_total == local.chunks_total
    assert server.store.count() == remote.chunks_total and not (tmp_path / "server" / "chroma").exists()
    _same_everywhere(embedded, server)
    lc = [[d.id for d in docs] for docs in server.retriever(k=3).batch([QUESTION, "drone attack"])]
    assert lc == [[d.id for d in docs] for docs in embedded.retriever(k=3).batch([QUESTION, "drone attack"])]


def test_incremental_re_ingest_through_the_server(chroma: str, corpus: Path, tmp_path: Path) -> None:
    embedded, server = _pair(corpus, tmp_path, chroma)
    embedded.ingest()
    first = server.ingest()
    change_dated_corpus(corpus)
    sent: list[str] = []
    put_sentences = server.store.put_sentences

    def counting(documents: list[tuple[str, str, Any, Any]]) -> None:
        sent.extend(doc_id for doc_id, *_ in documents)
        put_sentences(documents)

    server.store.put_sentences = counting  # type: ignore[method-assign]
    local, remote = embedded.ingest(), server.ingest()
    assert sorted(sent) == ["2025-06-20-drone-attack", "2025-07-05-kyiv"], "only the changed documents' sentences"
    assert (remote.added, remote.updated, remote.removed) == (
        ["2025-07-05-kyiv"],
        ["2025-06-20-drone-attack"],
        ["undated-profile"],
    )
    assert (remote.chunks_added, remote.chunks_removed) == (local.chunks_added, local.chunks_removed)
    assert remote.chunks_added == 2  # the edited document's chunk and the new one's; nothing else re-embedded
    assert _ids_on_server(server) == sorted(embedded.store.doc_hashes())
    assert remote.chunks_total == first.chunks_total == server.store.count()
    _same_everywhere(embedded, server)
    again = server.ingest()  # nothing changed: nothing embedded, nothing sent
    assert (again.added, again.updated, again.removed, again.chunks_synced) == ([], [], [], 0)


def test_every_command_uses_the_server(
    chroma: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    embedded, _ = _pair(corpus, tmp_path, chroma)
    embedded.ingest()
    monkeypatch.setenv("ASSISTANT_CHROMA_URL", chroma)
    monkeypatch.setenv("ASSISTANT_INDEX_DIR", str(tmp_path / "cli"))
    assert cli(["ingest", "--corpus", str(corpus), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["documents"]["added"] == 4
    assert not (tmp_path / "cli" / "chroma").exists()  # the vectors went to the server
    assert cli(["retrieve", "--corpus", str(corpus), "--json", QUESTION]) == 0
    printed = [record["chunk_id"] for record in json.loads(capsys.readouterr().out)]
    assert printed == [chunk_id for chunk_id, _, _ in _ranked(embedded, QUESTION)]
    assert cli(["ask", "--corpus", str(corpus), "--json", QUESTION]) == 0
    assert {**json.loads(capsys.readouterr().out), "timings_ms": None} == {
        **embedded.ask(QUESTION).to_json(),
        "timings_ms": None,
    }


def test_a_server_that_is_down_is_a_clear_error_and_the_next_call_after_it_is_back_works(
    corpus: Path, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    chroma = chroma_server(tmp_path / "chroma-data", port, tmp_path / "chroma.log").start()
    api_port = free_port()
    env = {
        "ASSISTANT_CORPUS_DIR": str(corpus),
        "ASSISTANT_INDEX_DIR": str(tmp_path / "server"),
        "ASSISTANT_CHROMA_URL": url,
        "ASSISTANT_EMBEDDING_MODEL": FAKE_MODEL,
    }
    api: ServerProcess | None = None
    try:
        _, server = _pair(corpus, tmp_path, url)
        server.ingest()
        expected = _ranked(server, QUESTION)
        api = assistant_api(api_port, tmp_path / "api.log", env).start()
        rest = f"http://127.0.0.1:{api_port}/v1/retrieve"
        assert httpx.post(rest, json={"query": QUESTION}, timeout=120).status_code == 200

        chroma.stop()
        started = time.monotonic()
        with pytest.raises(BackendError, match=rf"Chroma at {url} failed .*check that the server is running"):
            server.retrieve(QUESTION)
        assert time.monotonic() - started < 30
        with pytest.raises(BackendError):
            server.ask(QUESTION)
        response = httpx.post(rest, json={"query": QUESTION}, timeout=60)
        assert response.status_code == 503 and response.json()["error"]["type"] == "BackendError"
        assert "check that the server is running" in response.json()["error"]["message"]

        chroma.start()
        assert _ranked(server, QUESTION) == expected  # the very next call
        response = httpx.post(rest, json={"query": QUESTION}, timeout=60)
        assert response.status_code == 200, response.text
        assert [r["chunk_id"] for r in response.json()["results"]] == [chunk_id for chunk_id, _, _ in expected]
    finally:
        if api is not None:
            api.stop()
        chroma.stop()


def test_a_wiped_server_is_reported_and_refilled_from_the_catalog_without_embedding(
    chroma: str, corpus: Path, tmp_path: Path
) -> None:
    _, server = _pair(corpus, tmp_path, chroma)
    first = server.ingest()
    expected = _ranked(server, QUESTION)
    port = int(chroma.rsplit(":", 1)[1])
    chromadb.HttpClient(host="127.0.0.1", port=port).delete_collection(server.settings.index_name())
    with pytest.raises(IndexMissingError, match=r"holds no vectors for this corpus .* run `assistant ingest`"):
        server.retrieve(QUESTION)
    embedded: list[list[str]] = []
    encode = server.embeddings.encode

    def counting(texts: list[str]) -> np.ndarray:
        embedded.append(texts)
        return encode(texts)

    server.embeddings.encode = counting  # type: ignore[method-assign]
    report = server.ingest()
    server.embeddings.encode = encode  # type: ignore[method-assign]
    assert embedded == [] and (report.added, report.updated, report.removed) == ([], [], [])
    assert report.chunks_synced == server.store.count() == first.chunks_total
    assert _ranked(server, QUESTION) == expected


def _answers(url: str) -> list[Any]:
    """What an app server answers over REST: ranked chunks (with their ranks) for QUERIES, and an answer."""
    got: list[Any] = []
    for query, filters in QUERIES:
        fields = {
            name: list(value) if isinstance(value, tuple) else value
            for name, value in asdict(filters or Filters()).items()
        }
        body = {"query": query, "k": 5, **{name: value for name, value in fields.items() if value}}
        response = httpx.post(f"{url}/v1/retrieve", json=body, timeout=120)
        assert response.status_code == 200, response.text
        got.append([(r["chunk_id"], round(r["score"], 4), r["dense_rank"]) for r in response.json()["results"]])
    response = httpx.post(f"{url}/v1/ask", json={"question": QUESTION}, timeout=120)
    assert response.status_code == 200, response.text
    got.append({**response.json(), "timings_ms": None})
    return got


def test_two_app_servers_on_empty_folders_answer_alike_and_follow_an_ingest_through_either(
    chroma: str, corpus: Path, tmp_path: Path
) -> None:
    ingesting = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "ingest", chroma_url=chroma))
    ingesting.ingest()
    servers: list[ServerProcess] = []
    try:
        for name in ("a", "b"):  # two app servers, each with an empty index folder of its own
            env = {
                "ASSISTANT_CORPUS_DIR": str(corpus),
                "ASSISTANT_INDEX_DIR": str(tmp_path / name),
                "ASSISTANT_CHROMA_URL": chroma,
                "ASSISTANT_EMBEDDING_MODEL": ingesting.settings.embedding_model,
            }
            servers.append(assistant_api(free_port(), tmp_path / f"{name}.log", env).start())
        a, b = (server.ready_url.removesuffix("/health") for server in servers)
        expected = _answers(a)
        assert _answers(b) == expected and _quotes(expected[-1])
        assert expected[0] == [(c, round(s, 4), d) for c, s, d in _ranked(ingesting, QUESTION)]
        assert not list((tmp_path / "b").rglob("catalog.sqlite"))  # b answered from what the server holds

        note = {
            "filename": "kharkiv-strike.md",
            "content": "---\ntitle: Strike on Kharkiv\ndate: 2025-07-10\n---\n"
            "A glide bomb hit a tram depot in Kharkiv on Thursday and wounded eleven people.\n",
            "encoding": "text",
        }
        response = httpx.post(f"{a}/v1/documents", json=note, timeout=300)  # an ingest through app server a
        assert response.status_code == 201, response.text
        for url in (a, b):  # each sees it on its very next question, found by both rankers
            found = httpx.post(f"{url}/v1/retrieve", json={"query": "tram depot glide bomb", "k": 1}, timeout=120)
            top = found.json()["results"][0]
            assert top["doc_id"].endswith("kharkiv-strike") and top["dense_rank"] == 1 and top["lexical_rank"] == 1
        assert _answers(b) == _answers(a)
    finally:
        for server in servers:
            server.stop()


def test_an_ingest_cut_short_is_finished_by_the_next_and_app_servers_follow_only_finished_ones(
    chroma: str, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingesting = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "ingest", chroma_url=chroma))
    ingesting.ingest()
    app = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "app", chroma_url=chroma))
    question = "How many workers were injured in the drone attack on the port?"
    before = app.ask(question).to_json()
    assert "Two workers" in before["answer"]
    drone = corpus / "2025-06-20-drone-attack.md"
    drone.write_text(drone.read_text(encoding="utf-8").replace("Two workers", "Three workers"), encoding="utf-8")

    def unreachable(*args: Any) -> None:
        raise BackendError("Chroma at the server failed (connection reset)")

    with monkeypatch.context() as patch:  # the server goes away in the middle of the ingest
        patch.setattr(ingesting.store, "put_sentences", unreachable)
        with pytest.raises(BackendError):
            ingesting.ingest()
    assert app.ask(question).to_json()["answer"] == before["answer"]  # what was announced last, whole
    ingesting.ingest()
    after = app.ask(question).to_json()
    assert "Three workers" in after["answer"] and all("Two workers" not in c["quote"] for c in after["citations"])


def test_an_upload_that_would_remove_documents_another_machine_indexed_is_refused_and_removes_nothing(
    chroma: str, corpus: Path, tmp_path: Path
) -> None:
    """An app server's copy of the corpus folder lacks a document the server holds (ingested elsewhere): an
    upload there would make the server hold only this folder's documents, so it is refused, nothing written."""
    ingesting = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "ingest", chroma_url=chroma))
    ingesting.ingest()
    held = sorted(ingesting.store.doc_hashes())
    shutil.rmtree(corpus / "news")
    app = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "app", chroma_url=chroma))
    note = b"---\ntitle: Note\ndate: 2025-07-10\n---\nDrones were shot down over Odesa.\n"
    with pytest.raises(UsageError, match=r"news/2025-07-01-un-appeal\.md.*assistant ingest"):
        app.add_document("note.md", note)
    assert sorted(app.store.doc_hashes()) == held
    assert not list(corpus.rglob("note*"))
    # Where that document was indexed, its file is known to be gone: the upload goes ahead and the sync
    # removes it, as an ingest would.
    stored = ingesting.add_document("note.md", note)
    assert stored.report.removed == ["news/2025-07-01-un-appeal"]


def test_a_new_index_folder_takes_what_the_server_holds_and_embeds_only_the_rest(
    chroma: str, corpus: Path, tmp_path: Path
) -> None:
    """An app server that shares the corpus folder but starts with an empty index folder: its first upload
    embeds the uploaded document only; the others' vectors come from the server, which another machine filled."""
    ingesting = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "ingest", chroma_url=chroma))
    first = ingesting.ingest()
    held = dict(ingesting.store.doc_hashes())
    app = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "app", chroma_url=chroma))
    embedded: list[str] = []
    for assistant in (app, ingesting):
        encode = assistant.embeddings.encode

        def counting(texts: list[str], encode: Any = encode) -> np.ndarray:
            embedded.extend(texts)
            return encode(texts)

        assistant.embeddings.encode = counting  # type: ignore[method-assign]
    note = b"---\ntitle: Strike on Kharkiv\ndate: 2025-07-10\n---\nA glide bomb hit a tram depot in Kharkiv.\n"
    report = app.add_document("kharkiv.md", note).report
    assert embedded and all("Kharkiv" in text for text in embedded), "only the uploaded document is embedded"
    assert (report.added, report.updated, report.removed) == (["uploads/kharkiv"], [], [])
    assert report.unchanged == first.documents_total and report.chunks_added == 1
    assert {chunk_id: h for chunk_id, h in app.store.doc_hashes().items() if chunk_id in held} == held
    assert all(_ranked(app, query, filters) == _ranked(ingesting, query, filters) for query, filters in QUERIES)
    answers = [{**assistant.ask(QUESTION).to_json(), "timings_ms": None} for assistant in (app, ingesting)]
    assert answers[0] == answers[1] and _quotes(answers[0])
    # The machine that ran the first ingest finds the uploaded file in the shared folder and takes it too.
    embedded.clear()
    again = ingesting.ingest()
    assert embedded == [] and again.unchanged == first.documents_total + 1 and again.added == []
    assert _ranked(ingesting, "tram depot glide bomb")[0][0].startswith("uploads/kharkiv#")


def test_an_upload_when_the_server_stops_mid_way_is_undone_and_its_retry_keeps_its_name(
    corpus: Path, tmp_path: Path
) -> None:
    """The Chroma server stops while an upload is being indexed (here: as its text is embedded): the upload
    fails and leaves nothing; once the server is back, the same upload gets its own name, not gecko-2.txt."""
    port = free_port()
    chroma = chroma_server(tmp_path / "chroma-data", port, tmp_path / "chroma.log").start()

    class StopsTheServer(FakeEmbeddings):
        stops = 1

        def encode(self, texts: list[str]) -> np.ndarray:
            if self.stops and any("Gecko" in text for text in texts):
                self.stops -= 1
                chroma.stop()
            return super().encode(texts)

    gecko = b"Gecko drones\n\nA Gecko drone was shot down over the harbour on Friday.\n"
    try:
        settings = Settings(corpus_dir=corpus, index_dir=tmp_path / "app", chroma_url=f"http://127.0.0.1:{port}")
        app = Assistant(settings, embeddings=StopsTheServer())
        app.ingest()
        app.retrieve(QUESTION)  # an app server that has answered: its upload checks nothing on the server first
        with pytest.raises(BackendError, match="check that the server is running"):
            app.add_document("gecko.txt", gecko)
        assert not list(corpus.rglob("*gecko*")) and not list((corpus / "uploads").iterdir())
        chroma.start()
        stored = app.add_document("gecko.txt", gecko)
        assert (stored.source, stored.name_taken) == ("uploads/gecko.txt", False)
        assert sorted(path.name for path in (corpus / "uploads").iterdir()) == ["gecko.txt"]
        assert app.retrieve("Gecko drone shot down over the harbour", k=1)[0].chunk.doc_id == "uploads/gecko"
        assert {source for source in app.store.sources() if "gecko" in source} == {"uploads/gecko.txt"}
    finally:
        chroma.stop()


def _clustered_unit_vectors(count: int, dimension: int, seed: int) -> np.ndarray:
    """Unit vectors around 200 centres, as texts on a few hundred subjects embed: the hard case for a graph search."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(200, dimension))
    vectors = centres[rng.integers(0, 200, count)] + 0.9 * rng.normal(size=(count, dimension))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_a_wiped_and_refilled_server_finds_the_true_nearest_chunks_and_ranks_as_before(
    chroma: str, tmp_path: Path
) -> None:
    """Chroma's vector search is approximate: with its default breadth it found about 0.9 of the true nearest
    chunks, and which ones changed when a wiped server was refilled (the graph built in another order)."""
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "ix", chroma_url=chroma)
    vectors = _clustered_unit_vectors(5000, 384, seed=1)
    chunks = [ChunkInfo(f"d{i}#0", f"d{i}", "text", 0, 4, f"Document {i}", f"d{i}.txt") for i in range(len(vectors))]
    records = [(chunk, vector, "hash") for chunk, vector in zip(chunks, vectors, strict=True)]
    questions = _clustered_unit_vectors(100, 384, seed=2)
    n = Settings().candidates  # what a question asks Chroma for
    true = [{chunks[row].chunk_id for row in np.argsort(-(vectors @ question))[:n]} for question in questions]

    def search(store: VectorStore) -> tuple[float, list[list[str]]]:
        ranked = [[chunk_id for chunk_id, _ in store.query(question, n)] for question in questions]
        found = sum(len(set(ids) & nearest) for ids, nearest in zip(ranked, true, strict=True))
        return found / (n * len(questions)), [ids[:10] for ids in ranked]

    store = VectorStore(settings)
    store.add(records)
    first, first_ranked = search(store)
    port = int(chroma.rsplit(":", 1)[1])
    chromadb.HttpClient(host="127.0.0.1", port=port).delete_collection(settings.index_name())  # the server wiped
    store.add(records[::-1])  # and refilled, in another order
    refilled, _ = search(store)
    other_found, other_ranked = search(VectorStore(settings))  # another app server
    assert first >= 0.99 and refilled >= 0.99 and other_found == refilled, (first, refilled)
    agreeing = sum(a == b for a, b in zip(first_ranked, other_ranked, strict=True))
    assert agreeing >= 95, f"only {agreeing} of 100 questions have the same 10 nearest chunks after the refill"


def test_a_collection_made_with_a_narrower_search_is_widened_by_the_next_ingest(chroma: str, tmp_path: Path) -> None:
    """A collection made by an earlier version keeps its configuration: the next write raises its ef_search
    (Chroma lets a collection change only that) and keeps its metadata, the version app servers follow."""
    settings = Settings(corpus_dir=tmp_path / "corpus", index_dir=tmp_path / "ix", chroma_url=chroma)
    client = chromadb.HttpClient(host="127.0.0.1", port=int(chroma.rsplit(":", 1)[1]))
    client.create_collection(
        settings.index_name(), configuration={"hnsw": {"space": "cosine"}}, metadata={"version": "v1"}
    )
    assert VectorStore(settings).count() == 0
    widened = client.get_collection(settings.index_name())
    assert (
        widened.configuration_json["hnsw"]["ef_search"] == CHUNK_SEARCH["ef_search"]
        and widened.metadata["version"] == "v1"
    )
