"""The query-time snapshot: rebuilt when damaged, and rebuilt from its previous self without redoing unchanged work."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import assistant.index.snapshot_build as snapshot_build
from assistant.cli import cli
from assistant.index.snapshot import DamagedSnapshotError, Snapshot, open_snapshot
from assistant.pipeline import Assistant
from assistant.retrieval.query import make_query
from assistant.settings import Settings
from assistant.testing import FAKE_MODEL

from .conftest import DATA, change_dated_corpus
from .servers import ASSISTANT

QUESTION = "Who attacked the port?"


def _largest_file(folder: Path) -> Path:
    return max((path for path in folder.iterdir() if path.is_file()), key=lambda path: path.stat().st_size)


def test_a_damaged_snapshot_is_reported_and_rebuilt_by_ingest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", str(DATA / "dated"))
    assert cli(["ingest"]) == 0
    capsys.readouterr()
    assert cli(["ask", "--json", QUESTION]) == 0
    expected = capsys.readouterr().out
    settings = Settings()
    damaged = _largest_file(settings.index_path() / (settings.index_path() / "current").read_text())
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])  # as a full disk or a bad copy leaves it

    assert cli(["ask", QUESTION]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "damaged" in error and "run `assistant ingest`" in error, error
    assert cli(["ingest"]) == 0
    capsys.readouterr()
    assert cli(["ask", "--json", QUESTION]) == 0
    assert _without_timings(capsys.readouterr().out) == _without_timings(expected)


def _flip_last_bytes(path: Path, count: int = 8) -> None:
    """Change a file's last bytes in place, its size kept: what a bad disk or a stray write does."""
    data = bytearray(path.read_bytes())
    data[-count:] = bytes(0x7F ^ byte for byte in data[-count:])
    path.write_bytes(bytes(data))


def test_a_snapshot_changed_without_a_size_change_is_refused_and_ingest_repairs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A BM25 index array changed in place made `assistant ask` crash (SIGSEGV) and ingest report success."""
    env = {**os.environ, "ASSISTANT_CORPUS_DIR": str(DATA / "dated"), "ASSISTANT_EMBEDDING_MODEL": FAKE_MODEL}
    monkeypatch.setenv("ASSISTANT_CORPUS_DIR", env["ASSISTANT_CORPUS_DIR"])
    monkeypatch.setenv("ASSISTANT_EMBEDDING_MODEL", FAKE_MODEL)
    assert cli(["ingest"]) == 0
    capsys.readouterr()
    assert cli(["ask", "--json", QUESTION]) == 0
    expected = capsys.readouterr().out
    settings = Settings()
    folder = settings.index_path() / (settings.index_path() / "current").read_text()
    _flip_last_bytes(folder / "bm25_indices.npy")

    asked = subprocess.run([ASSISTANT, "ask", QUESTION], capture_output=True, text=True, env=env, timeout=300)
    assert asked.returncode == 1, asked
    assert asked.stderr.count("\n") == 1 and "bm25_indices.npy does not match its checksum" in asked.stderr
    assert "run `assistant ingest`" in asked.stderr
    assert cli(["ingest"]) == 0
    capsys.readouterr()
    assert cli(["ask", "--json", QUESTION]) == 0
    assert _without_timings(capsys.readouterr().out) == _without_timings(expected)


def test_any_file_of_a_snapshot_changed_in_place_is_detected(tmp_path: Path, fake_embeddings: str) -> None:
    settings = Settings(corpus_dir=DATA / "dated")
    Assistant(settings).ingest()
    root = settings.index_path()
    folder = root / (root / "current").read_text()
    for path in sorted(p for p in folder.iterdir() if p.name != "manifest.json"):
        original = path.read_bytes()
        _flip_last_bytes(path, 1)
        with pytest.raises(DamagedSnapshotError, match=f"{path.name} does not match its checksum"):
            open_snapshot(root)
        path.write_bytes(original)
    open_snapshot(root)


def _without_timings(printed: str) -> str:
    return json.dumps({**json.loads(printed), "timings_ms": None})


def _contents(snapshot: Snapshot) -> dict[str, object]:
    """Everything a question reads from a snapshot, as plain values."""
    terms = [snapshot.bm25.vocabulary[i] for i in range(len(snapshot.bm25.vocabulary))]
    weights = snapshot.bm25.weights.tocsr()
    return {
        "documents": snapshot.documents,
        "chunks": list(snapshot.chunks),
        "rows": [snapshot.row_of[chunk.chunk_id] for chunk in snapshot.chunks],
        "chunk_sentences": np.asarray(snapshot.chunk_sentences).tolist(),
        "sentence_spans": np.asarray(snapshot.sentence_spans).tolist(),
        "terms": terms,
        "weights": [
            (list(map(int, r.indices)), r.data.tobytes()) for r in (weights[i] for i in range(weights.shape[0]))
        ],
        "idf": np.asarray(snapshot.bm25.idf).tobytes(),
    }


def test_a_rebuild_reuses_unchanged_documents_and_equals_a_build_from_scratch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DATA / "dated", corpus)
    incremental = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "incremental"))
    incremental.ingest()
    change_dated_corpus(corpus)
    tokenized: list[str] = []
    tokenize = snapshot_build.tokenize

    def counting(text: str) -> list[str]:
        tokenized.append(text)
        return tokenize(text)

    monkeypatch.setattr(snapshot_build, "tokenize", counting)
    incremental.ingest()
    monkeypatch.setattr(snapshot_build, "tokenize", tokenize)
    assert tokenized and all("Three workers" in text or "Missiles" in text for text in tokenized)

    scratch = Assistant(Settings(corpus_dir=corpus, index_dir=tmp_path / "scratch"))
    scratch.ingest()
    rebuilt, fresh = (open_snapshot(a.settings.index_path()) for a in (incremental, scratch))
    assert rebuilt.version == fresh.version and _contents(rebuilt) == _contents(fresh)
    # The int8 export quantises activations per batch, so a document embedded beside others differs in the
    # last digits from the same document embedded alone: equal in direction, not in bits.
    cosines = np.sum(
        np.asarray(rebuilt.sentence_vectors, dtype=np.float32) * np.asarray(fresh.sentence_vectors, dtype=np.float32),
        axis=1,
    )
    assert cosines.shape == (len(fresh.sentence_spans),) and float(cosines.min()) > 0.99
    query = make_query("drone attack port workers")
    assert [r.chunk.chunk_id for r in incremental.search.search(query, 5)] == [
        r.chunk.chunk_id for r in scratch.search.search(query, 5)
    ]
